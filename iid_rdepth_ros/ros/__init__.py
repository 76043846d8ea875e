"""ROS 2 side of iid_rdepth_ros: the ``iid_rdepth_node`` lifecycle node and message conversions.

Nothing here imports torch; inference goes through :mod:`iid_rdepth_ros.runtime`.
"""
