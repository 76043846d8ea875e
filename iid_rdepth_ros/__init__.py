"""IID-RDepth for ROS 2."""
