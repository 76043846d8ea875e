"""rosbag2 tools: write synth-street drives as bags, read and pair recorded frames, project
LiDAR ground truth, evaluate offline or live against a running node, replay over DDS.

Reading and writing use the ``rosbags`` library (sqlite3 and mcap storage, no ROS install);
only ``live`` and ``replay`` need rclpy. Heavy modules are imported where they are used.
"""
