"""Monocular depth: ``ros2 launch iid_rdepth_ros depth.launch.py [image:=... rviz:=true]``.

Starts ``iid_rdepth_node`` (lifecycle node; configures and activates itself) on a rectified
camera, and optionally rviz2 with the depth images and the point cloud. ``stereo.launch.py``
includes this file with its own parameters and the right camera's topics.

Arguments: ``namespace``, ``params_file`` (default ``config/iid_rdepth.yaml``), ``backend`` and
``model_path`` (override the params file when not empty), ``image`` / ``camera_info`` (input
topics), ``aux_image`` / ``aux_camera_info`` (a right camera's topics; empty = not remapped),
``rviz``, ``rviz_config``, ``fixed_frame`` (rviz fixed frame: the camera's optical frame),
``log_level``, ``fastdds_profile``.
"""

import os

from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.conditions import IfCondition
from launch.launch_description import LaunchDescription
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode, Node
from launch_ros.substitutions import FindPackageShare

PACKAGE = "iid_rdepth_ros"


def _actions(context, *args, **kwargs):
    params = [LaunchConfiguration("params_file").perform(context)]
    env = {}
    profile = LaunchConfiguration("fastdds_profile").perform(context)
    if profile and not any(k in os.environ for k in ("FASTDDS_DEFAULT_PROFILES_FILE",
                                                      "FASTRTPS_DEFAULT_PROFILES_FILE")):
        env["FASTDDS_DEFAULT_PROFILES_FILE"] = profile  # large outputs without loss
    overrides = {}
    for name in ("backend", "model_path"):
        value = LaunchConfiguration(name).perform(context)
        if value:
            overrides[name] = value
    if overrides:
        params.append(overrides)
    remappings = [(topic, LaunchConfiguration(arg).perform(context))
                  for topic, arg in (("image", "image"), ("camera_info", "camera_info"),
                                     ("aux/image", "aux_image"),
                                     ("aux/camera_info", "aux_camera_info"))]
    namespace = LaunchConfiguration("namespace")
    node = LifecycleNode(
        package=PACKAGE,
        executable="iid_rdepth_node",
        name="iid_rdepth",
        namespace=namespace,
        parameters=params,
        remappings=[(topic, target) for topic, target in remappings if target],
        arguments=["--ros-args", "--log-level", LaunchConfiguration("log_level")],
        additional_env=env,
        output="screen",
    )
    rviz = Node(
        package="rviz2",
        executable="rviz2",
        name="rviz2",
        namespace=namespace,
        arguments=["-d", LaunchConfiguration("rviz_config"),
                   "-f", LaunchConfiguration("fixed_frame")],
        condition=IfCondition(LaunchConfiguration("rviz")),
        output="screen",
    )
    return [node, rviz]


def generate_launch_description():
    share = FindPackageShare(PACKAGE)
    config = PathJoinSubstitution([share, "config"])
    return LaunchDescription([
        DeclareLaunchArgument("namespace", default_value="",
                              description="namespace of the node (and rviz2)"),
        DeclareLaunchArgument(
            "params_file", default_value=PathJoinSubstitution([config, "iid_rdepth.yaml"]),
            description="node parameters (YAML)"),
        DeclareLaunchArgument("backend", default_value="",
                              description="auto | tensorrt | onnxruntime | torch; "
                              "empty = from params_file"),
        DeclareLaunchArgument("model_path", default_value="",
                              description="checkpoint/ONNX; empty = from params_file"),
        DeclareLaunchArgument("image", default_value="image",
                              description="rectified camera image topic"),
        DeclareLaunchArgument("camera_info", default_value="camera_info",
                              description="camera_info topic of the image"),
        DeclareLaunchArgument("aux_image", default_value="",
                              description="rectified right camera image topic (stereo); "
                              "empty = not remapped"),
        DeclareLaunchArgument("aux_camera_info", default_value="",
                              description="camera_info of the right camera (with baseline); "
                              "empty = not remapped"),
        DeclareLaunchArgument("rviz", default_value="false", description="start rviz2"),
        DeclareLaunchArgument(
            "rviz_config", default_value=PathJoinSubstitution([config, "iid_rdepth.rviz"]),
            description="rviz2 configuration"),
        DeclareLaunchArgument("fixed_frame", default_value="camera_optical_frame",
                              description="rviz2 fixed frame (the camera's optical frame)"),
        DeclareLaunchArgument("log_level", default_value="info", description="node log level"),
        DeclareLaunchArgument(
            "fastdds_profile",
            default_value=PathJoinSubstitution([config, "fastdds_large_images.xml"]),
            description="Fast DDS profile for the node (large shared-memory segment); empty = "
            "none; ignored when FASTDDS_DEFAULT_PROFILES_FILE is already set"),
        OpaqueFunction(function=_actions),
    ])
