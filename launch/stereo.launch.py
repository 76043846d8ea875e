"""Stereo depth: ``ros2 launch iid_rdepth_ros stereo.launch.py image:=... aux_image:=...``.

``depth.launch.py`` with the stereo parameters (``config/stereo.yaml``) and the right camera:
the left camera is the main view, the right camera the auxiliary view (AV-LFE; baseline from
its camera_info ``P[3] = -fx * B``). When the right camera stops, the node falls back to mono
and re-engages when it returns. Every argument of ``depth.launch.py`` applies; this file sets
``params_file`` (default ``config/stereo.yaml``), ``aux_image`` and ``aux_camera_info``.
"""

from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description import LaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare

PACKAGE = "iid_rdepth_ros"


def generate_launch_description():
    share = FindPackageShare(PACKAGE)
    return LaunchDescription([
        DeclareLaunchArgument(
            "params_file",
            default_value=PathJoinSubstitution([share, "config", "stereo.yaml"]),
            description="node parameters (YAML)"),
        DeclareLaunchArgument("aux_image", default_value="aux/image",
                              description="rectified right camera image topic"),
        DeclareLaunchArgument("aux_camera_info", default_value="aux/camera_info",
                              description="camera_info of the right camera (with baseline)"),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(
                PathJoinSubstitution([share, "launch", "depth.launch.py"])),
            launch_arguments={name: LaunchConfiguration(name) for name in
                              ("params_file", "aux_image", "aux_camera_info")}.items()),
    ])
