"""Stereo depth: ``ros2 launch iid_rdepth_ros stereo.launch.py image:=... aux_image:=...``.

Starts ``iid_rdepth_node`` (lifecycle node; configures and activates itself) on a rectified
stereo pair: the left camera is the main view, the right camera the auxiliary view (AV-LFE;
baseline from its camera_info ``P[3] = -fx * B``). When the right camera stops, the node falls
back to mono and re-engages when it returns. Optionally starts rviz2.

Arguments: ``namespace``, ``params_file`` (default ``config/stereo.yaml``), ``backend`` and
``model_path`` (override the params file when not empty), ``image`` / ``camera_info`` (left),
``aux_image`` / ``aux_camera_info`` (right), ``rviz``, ``rviz_config``, ``fixed_frame`` (rviz
fixed frame: the left camera's optical frame), ``log_level``, ``fastdds_profile``.
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
    namespace = LaunchConfiguration("namespace")
    node = LifecycleNode(
        package=PACKAGE,
        executable="iid_rdepth_node",
        name="iid_rdepth",
        namespace=namespace,
        parameters=params,
        remappings=[
            ("image", LaunchConfiguration("image")),
            ("camera_info", LaunchConfiguration("camera_info")),
            ("aux/image", LaunchConfiguration("aux_image")),
            ("aux/camera_info", LaunchConfiguration("aux_camera_info")),
        ],
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
            "params_file", default_value=PathJoinSubstitution([config, "stereo.yaml"]),
            description="node parameters (YAML)"),
        DeclareLaunchArgument("backend", default_value="",
                              description="auto | tensorrt | onnxruntime | torch; "
                              "empty = from params_file"),
        DeclareLaunchArgument("model_path", default_value="",
                              description="checkpoint/ONNX; empty = from params_file"),
        DeclareLaunchArgument("image", default_value="image",
                              description="rectified left camera image topic"),
        DeclareLaunchArgument("camera_info", default_value="camera_info",
                              description="camera_info topic of the image"),
        DeclareLaunchArgument("aux_image", default_value="aux/image",
                              description="rectified right camera image topic"),
        DeclareLaunchArgument("aux_camera_info", default_value="aux/camera_info",
                              description="camera_info of the right camera (with baseline)"),
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
