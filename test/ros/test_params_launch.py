"""Launch files, parameter YAML and rviz config against the node's declared parameters."""

from __future__ import annotations

import os
import py_compile
import runpy
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

pytest.importorskip("rclpy")

import rclpy  # noqa: E402
from rcl_interfaces.msg import ParameterType  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from ros_node_harness import free_domain  # noqa: E402

from iid_rdepth_ros.ros.node import DepthNode  # noqa: E402
from iid_rdepth_ros.ros.params import DYNAMIC, PARAMS, depth_bounds  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
LAUNCH_FILES = ("depth.launch.py", "stereo.launch.py")
YAML_FILES = ("iid_rdepth.yaml", "stereo.yaml")
DOMAIN_ID = free_domain(46)
#: parameters every rclpy node declares by itself
RCLPY_OWN = {"use_sim_time", "start_type_description_service"}


@pytest.fixture(scope="module")
def node() -> Iterator[DepthNode]:
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=DOMAIN_ID)
    depth_node = DepthNode(context=context)
    try:
        yield depth_node
    finally:
        depth_node.destroy_node()
        rclpy.try_shutdown(context=context)


def _yaml_params(name: str) -> dict:
    data = yaml.safe_load((REPO / "config" / name).read_text())
    return data["/**"]["ros__parameters"]


@pytest.mark.parametrize("name", YAML_FILES)
def test_yaml_keys_equal_declared_parameters(node: DepthNode, name: str) -> None:
    declared = set(node._parameters) - RCLPY_OWN
    assert declared == {p.name for p in PARAMS}
    params = _yaml_params(name)
    assert set(params) == declared
    for spec in PARAMS:  # same types as the declarations (rclpy would refuse others)
        value = params[spec.name]
        assert type(value) is type(spec.default), (name, spec.name, value)


def test_default_yaml_holds_the_node_defaults(node: DepthNode) -> None:
    params = _yaml_params("iid_rdepth.yaml")
    for spec in PARAMS:
        assert node.get_parameter(spec.name).value == spec.default == params[spec.name]
    assert node.get_parameter("backend").value == "auto"


def test_descriptors_ranges_and_unconfigured_changes(node: DepthNode) -> None:
    described = {d.name: d for d in node.describe_parameters([p.name for p in PARAMS])}
    assert described["points_stride"].integer_range[0].from_value == 1
    assert described["input_width"].integer_range[0].step == 32
    assert described["max_depth"].floating_point_range[0].to_value == 1000.0
    assert described["sync_tolerance"].type == ParameterType.PARAMETER_DOUBLE
    assert "read-only after configure" in described["backend"].description
    assert "read-only" not in described["colormap"].description
    assert {"min_depth", "max_depth", "colormap", "points_stride", "publish_points",
            "publish_colorized", "points_color", "points_distortion", "min_confidence"} == DYNAMIC
    assert described["points_distortion"].additional_constraints == (
        "one of: model, rectified, skip")
    # unconfigured: fixed parameters may change; ranges and choices are enforced
    ok = node.set_parameters([Parameter("backend", value="torch")])[0]
    assert ok.successful
    assert not node.set_parameters([Parameter("backend", value="cuda")])[0].successful
    assert not node.set_parameters([Parameter("input_width", value=100)])[0].successful
    # 0 = the model's range; two explicit bounds must be ordered
    assert node.set_parameters([Parameter("max_depth", value=0.2)])[0].successful
    result = node.set_parameters([Parameter("min_depth", value=0.5)])[0]
    assert not result.successful and "min_depth must be < max_depth" in result.reason
    assert node.set_parameters([Parameter("max_depth", value=0.0)])[0].successful
    assert node.set_parameters([Parameter("backend", value="auto")])[0].successful
    # `-p aux_mode:=off` arrives as YAML boolean false: accepted as "off"
    assert node.set_parameters([Parameter("aux_mode", value=False)])[0].successful
    assert node._param("aux_mode") == "off"
    assert not node.set_parameters([Parameter("aux_mode", value=True)])[0].successful
    assert node.set_parameters([Parameter("aux_mode", value="auto")])[0].successful
    # points_distortion: a choice like the others, refused with the same message
    result = node.set_parameters([Parameter("points_distortion", value="undistort")])[0]
    assert not result.successful and result.reason == (
        "points_distortion must be one of model, rectified, skip, got 'undistort'")
    for value in ("skip", "rectified", "model"):
        assert node.set_parameters([Parameter("points_distortion", value=value)])[0].successful
        assert node._settings.points_distortion == value  # dynamic: read on the next frame


def test_depth_bounds_follow_the_model_unless_set() -> None:
    """min_depth / max_depth 0: the model's range at this camera's focal; the colormap starts
    at max/160 at the nearest (the shipped street model keeps its 0.5..80 m colours)."""
    assert depth_bounds(0.0, 0.0, (1e-3, 80.0), 1.0) == pytest.approx((1e-3, 80.0, 0.5))
    assert depth_bounds(0.0, 0.0, (0.3, 10.0), 2.0) == pytest.approx((0.6, 20.0, 0.6))
    assert depth_bounds(0.5, 5.0, (0.3, 10.0), 2.0) == (0.5, 5.0, 0.5)
    assert depth_bounds(0.0, 5.0, (0.3, 10.0), 1.0) == pytest.approx((0.3, 5.0, 0.3))
    assert depth_bounds(0.0, 0.0, None, 1.0) == (1e-3, 1000.0, 1000.0 / 160)


def test_unquoted_off_on_the_command_line() -> None:
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=DOMAIN_ID,
               args=["--ros-args", "-p", "aux_mode:=off", "-p", "points_stride:=3"])
    try:
        depth_node = DepthNode(context=context)
        assert depth_node._param("aux_mode") == "off"
        assert depth_node._param("points_stride") == 3
        depth_node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)


def test_unknown_points_distortion_on_the_command_line_fails_configure() -> None:
    from rclpy.lifecycle import TransitionCallbackReturn

    from iid_rdepth_ros.ros.params import check_value

    context = rclpy.Context()
    rclpy.init(context=context, domain_id=DOMAIN_ID,
               args=["--ros-args", "-p", "points_distortion:=undistort"])
    try:
        depth_node = DepthNode(context=context)
        assert depth_node._param("points_distortion") == "undistort"  # a string: declared
        # refused at configure with the message set_parameters gives (before any model load)
        assert depth_node.trigger_configure() != TransitionCallbackReturn.SUCCESS
        assert check_value("points_distortion", "undistort", {}) == (
            "points_distortion must be one of model, rectified, skip, got 'undistort'")
        depth_node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)


def test_integers_for_float_parameters_and_wrongly_typed_values() -> None:
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=DOMAIN_ID,
               args=["--ros-args", "-p", "max_depth:=20", "-p", "sync_tolerance:=0",
                     "-p", "min_depth:=near"])
    try:
        depth_node = DepthNode(context=context)
        for name, value in (("max_depth", 20.0), ("sync_tolerance", 0.0)):
            got = depth_node.get_parameter(name)
            assert got.value == value and got.type_ == Parameter.Type.DOUBLE
        result = depth_node.set_parameters([Parameter("max_depth", value=30)])[0]
        assert result.successful and depth_node.get_parameter("max_depth").value == 30.0
        assert depth_node.get_parameter("max_depth").type_ == Parameter.Type.DOUBLE
        # a string for a number: one message, the default kept, configure refused
        assert depth_node._param_errors == {
            "min_depth": "min_depth must be a number in 0..1000, got 'near'"}
        assert depth_node.get_parameter("min_depth").value == 0.0  # 0: the model's range
        from rclpy.lifecycle import TransitionCallbackReturn

        assert depth_node.trigger_configure() != TransitionCallbackReturn.SUCCESS
        # set right, the parameter no longer blocks configure
        assert depth_node.set_parameters([Parameter("min_depth", value=1)])[0].successful
        assert depth_node._param_errors == {} and depth_node._param("min_depth") == 1.0
        depth_node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)


@pytest.mark.parametrize("name", LAUNCH_FILES)
def test_launch_files_compile_and_name_shipped_configs(name: str) -> None:
    path = REPO / "launch" / name
    py_compile.compile(str(path), doraise=True)
    text = path.read_text()
    refs = (('"depth.launch.py"', "IncludeLaunchDescription", '"params_file"', '"aux_image"')
            if name.startswith("stereo") else
            ("iid_rdepth.rviz", "iid_rdepth_node", '"rviz"', '"namespace"', '"params_file"',
             '"backend"', "fastdds_large_images.xml"))
    for ref in refs:
        assert ref in text, ref
    config = "stereo.yaml" if name.startswith("stereo") else "iid_rdepth.yaml"
    assert f'"{config}"' in text and (REPO / "config" / config).is_file()


def test_rviz_config_displays_and_qos() -> None:
    rviz = yaml.safe_load((REPO / "config" / "iid_rdepth.rviz").read_text())
    displays = {d["Topic"]["Value"]: d for d in rviz["Visualization Manager"]["Displays"]}
    assert displays["depth/image"]["Class"] == "rviz_default_plugins/Image"
    assert displays["depth/colorized"]["Class"] == "rviz_default_plugins/Image"
    assert displays["points"]["Class"] == "rviz_default_plugins/PointCloud2"
    assert displays["points"]["Color Transformer"] == "RGB8"
    for display in displays.values():  # matches output_qos: reliable (keep last 5)
        assert display["Topic"]["Reliability Policy"] == "Reliable"
        assert display["Topic"]["Durability Policy"] == "Volatile"


# -- with the real launch / launch_ros (not installable from PyPI: skipped where absent) ------


@pytest.fixture()
def share_prefix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An ament prefix where FindPackageShare('iid_rdepth_ros') finds this source tree."""
    index = tmp_path / "share" / "ament_index" / "resource_index" / "packages"
    index.mkdir(parents=True)
    (index / "iid_rdepth_ros").write_text("")
    share = tmp_path / "share" / "iid_rdepth_ros"
    share.mkdir()
    for sub in ("config", "launch"):
        os.symlink(REPO / sub, share / sub)
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(tmp_path))
    return tmp_path


def _expand(entities: list, context) -> tuple[set[str], list]:
    """Declared argument names and opaque functions of a launch description, with included
    descriptions expanded the way ``ros2 launch`` executes them."""
    from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, OpaqueFunction
    from launch.launch_description import LaunchDescription

    names: set[str] = set()
    opaque: list = []
    for entity in entities:
        if isinstance(entity, DeclareLaunchArgument):
            entity.execute(context)
            names.add(entity.name)
        elif isinstance(entity, OpaqueFunction):
            opaque.append(entity)
        elif isinstance(entity, IncludeLaunchDescription):
            inner_names, inner = _expand(entity.execute(context) or [], context)
            names |= inner_names
            opaque += inner
        elif isinstance(entity, LaunchDescription):
            inner_names, inner = _expand(list(entity.entities), context)
            names |= inner_names
            opaque += inner
        else:  # SetLaunchConfiguration of an include's launch_arguments
            entity.execute(context)
    return names, opaque


@pytest.mark.parametrize("name", LAUNCH_FILES)
def test_launch_description_builds_node_and_rviz(name: str, share_prefix: Path) -> None:
    pytest.importorskip("launch")
    pytest.importorskip("launch_ros")
    from launch.launch_context import LaunchContext
    from launch_ros.actions import LifecycleNode, Node

    description = runpy.run_path(str(REPO / "launch" / name))["generate_launch_description"]()
    context = LaunchContext()
    context.launch_configurations.update(
        {"namespace": "robot", "backend": "torch", "image": "/cam/left/image_rect",
         "rviz": "true"})
    arg_names, opaque = _expand(list(description.entities), context)
    assert {"namespace", "params_file", "backend", "model_path", "image", "camera_info",
            "aux_image", "aux_camera_info", "rviz", "rviz_config", "fixed_frame"} <= arg_names
    stereo = name.startswith("stereo")
    assert len(opaque) == 1  # one node (+ rviz): stereo.launch.py includes depth.launch.py
    actions = opaque[0].execute(context)
    node = next(a for a in actions if isinstance(a, LifecycleNode))
    rviz = next(a for a in actions if isinstance(a, Node) and not isinstance(a, LifecycleNode))
    assert node.node_package == "iid_rdepth_ros" and node.node_executable == "iid_rdepth_node"
    node._perform_substitutions(context)
    assert node.node_name == "/robot/iid_rdepth"
    remaps = dict(node.expanded_remapping_rules)
    assert remaps["image"] == "/cam/left/image_rect" and remaps["camera_info"] == "camera_info"
    assert ("aux/image" in remaps) == ("aux/camera_info" in remaps) == stereo
    if stereo:
        assert remaps["aux/image"] == "aux/image"
    expected_yaml = "stereo.yaml" if stereo else "iid_rdepth.yaml"
    # cmd[0] locates the installed executable; the rest are its arguments (the ROS-specific
    # ones filled in as Node.execute does)
    context.extend_locals({"ros_specific_arguments": {"ns": "__ns:=/robot",
                                                      "name": "__node:=iid_rdepth"}})
    cmd = " ".join(" ".join(s.perform(context) for s in part) for part in node.cmd[1:])
    assert expected_yaml in cmd and "--params-file" in cmd
    profile_env = {"".join(x.perform(context) for x in k): "".join(x.perform(context) for x in v)
                   for k, v in (node.additional_env or [])}
    if "FASTDDS_DEFAULT_PROFILES_FILE" not in os.environ:
        assert profile_env["FASTDDS_DEFAULT_PROFILES_FILE"].endswith("fastdds_large_images.xml")
    assert rviz.node_executable == "rviz2"
    assert rviz.condition.evaluate(context)
    rviz_cmd = " ".join(" ".join(s.perform(context) for s in part) for part in rviz.cmd[1:])
    assert "iid_rdepth.rviz" in rviz_cmd and "-f camera_optical_frame" in rviz_cmd
    context.launch_configurations["rviz"] = "false"
    assert not rviz.condition.evaluate(context)


LAUNCH_SCRIPT = """
import sys
from launch.actions import IncludeLaunchDescription
from launch.launch_description import LaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.launch_service import LaunchService
args = [tuple(a.split(":=", 1)) for a in sys.argv[2:]]
service = LaunchService()
service.include_launch_description(LaunchDescription([IncludeLaunchDescription(
    PythonLaunchDescriptionSource(sys.argv[1]), launch_arguments=args)]))
sys.exit(service.run())
"""


@pytest.mark.parametrize("name", LAUNCH_FILES)
def test_launch_runs_the_node_in_a_namespace(name: str, share_prefix: Path,
                                             tmp_path: Path) -> None:
    """What `ros2 launch iid_rdepth_ros depth.launch.py namespace:=robot image:=...` does:
    the node starts from the installed executable, autostarts, and serves depth in the
    namespace from the remapped image topic; stereo.launch.py (which includes depth.launch.py)
    also listens to the right camera."""
    pytest.importorskip("launch")
    pytest.importorskip("launch_ros")
    pytest.importorskip("torch")
    import signal
    import subprocess
    import sys
    import time

    from ros_node_harness import Harness, ros_context, ros_env, synthetic_rgb, tiny_checkpoint

    libexec = share_prefix / "lib" / "iid_rdepth_ros"
    libexec.mkdir(parents=True)
    script = Path(sys.executable).with_name("iid_rdepth_node")
    if not script.is_file():
        pytest.skip("iid_rdepth_node console script not installed (pip install -e .)")
    os.symlink(script, libexec / "iid_rdepth_node")
    ckpt = tiny_checkpoint()
    domain = free_domain(48)
    log = open(tmp_path / "launch.log", "w")  # noqa: SIM115
    launch = subprocess.Popen(
        [sys.executable, "-c", LAUNCH_SCRIPT, str(REPO / "launch" / name),
         "namespace:=robot", "image:=/cam/image_rect", "backend:=torch", f"model_path:={ckpt}",
         *(["aux_image:=/cam/right/image_rect"] if name.startswith("stereo") else [])],
        env=dict(os.environ, **ros_env(domain), OMP_NUM_THREADS="1"), stdout=log,
        stderr=subprocess.STDOUT)
    try:
        with ros_context(domain) as context:
            harness = Harness(context, "robot", input_topics={"image": "/cam/image_rect"})
            try:
                end = time.monotonic() + 120
                while harness.image_pub.get_subscription_count() == 0:
                    assert launch.poll() is None and time.monotonic() < end, (
                        (tmp_path / "launch.log").read_text()[-3000:])
                    time.sleep(0.2)
                out = harness.request(synthetic_rgb(1), keys=("depth", "points"))
                assert out["depth"].encoding == "32FC1"
                assert (out["depth"].height, out["depth"].width) == (120, 400)
                aux = ("/cam/right/image_rect" if name.startswith("stereo")
                       else "/robot/aux/image")  # mono: its default, unremapped topic
                assert harness.node.count_subscribers(aux) == 1
            finally:
                harness.close()
    finally:
        launch.send_signal(signal.SIGINT)
        try:
            launch.wait(30)
        except subprocess.TimeoutExpired:
            launch.kill()
        log.close()


BIG_PUBLISHER = """
import array, sys, time
import rclpy
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
rclpy.init()
node = rclpy.create_node("big_camera")
pub = node.create_publisher(Image, "/big/image", qos_profile_sensor_data)
while pub.get_subscription_count() == 0:
    time.sleep(0.05)
time.sleep(0.5)
for i in range(int(sys.argv[1])):
    msg = Image(height=375, width=1242, encoding="rgb8", step=1242 * 3)
    msg.header.stamp.sec = i
    msg.data = array.array("B", bytes(375 * 1242 * 3))
    pub.publish(msg)
    time.sleep(0.2)
time.sleep(0.5)
"""


def test_fastdds_profile_delivers_large_best_effort_images(tmp_path: Path) -> None:
    """The shipped Fast DDS profile: 1242x375 rgb8 best-effort images cross processes."""
    import xml.etree.ElementTree as ET

    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import qos_profile_sensor_data
    from ros_node_harness import ros_context, ros_env
    from sensor_msgs.msg import Image

    profile = REPO / "config" / "fastdds_large_images.xml"
    ns = {"p": "http://www.eprosima.com"}
    size = ET.parse(profile).getroot().find(".//p:segment_size", ns)
    assert size is not None and int(size.text) >= 8 * 1024 * 1024
    assert "fastdds_large_images.xml" in (REPO / "launch" / "depth.launch.py").read_text()
    if os.environ.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp") != "rmw_fastrtps_cpp":
        pytest.skip("the profile is for rmw_fastrtps_cpp")
    count, domain = 10, free_domain(49)
    with ros_context(domain) as context:
        node = rclpy.create_node("big_listener", context=context)
        got: list[int] = []
        node.create_subscription(Image, "/big/image", lambda m: got.append(m.header.stamp.sec),
                                 qos_profile_sensor_data)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        env = dict(os.environ, **ros_env(domain), FASTDDS_DEFAULT_PROFILES_FILE=str(profile))
        proc = subprocess.Popen([sys.executable, "-c", BIG_PUBLISHER, str(count)], env=env)
        try:
            end = time.monotonic() + 30
            while proc.poll() is None and time.monotonic() < end:
                executor.spin_once(timeout_sec=0.05)
            for _ in range(10):
                executor.spin_once(timeout_sec=0.05)
        finally:
            if proc.poll() is None:
                proc.kill()
            executor.shutdown()
            node.destroy_node()
    assert proc.returncode == 0
    assert len(got) >= count - 1, got
