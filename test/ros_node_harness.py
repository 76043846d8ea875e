"""Shared helpers of the node's DDS integration tests (test_ros_node_*.py).

The node runs in its own process (``python -m iid_rdepth_ros.ros.node --ros-args ...``); the
test process publishes camera frames and subscribes to the outputs over real DDS
(rmw_fastrtps_cpp, localhost discovery, one ROS_DOMAIN_ID per test module).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from iid_rdepth_ros.ros import node_process

REPO = Path(__file__).resolve().parents[1]
#: camera size of the synthetic frames: not a multiple of 32, so the runner resizes
CAM_H, CAM_W = 120, 400
FX = FY = 280.0
CX, CY = (CAM_W - 1) / 2, (CAM_H - 1) / 2
BASELINE = 0.54
PRESET = "lite0-96x320"


def ros_env(domain_id: int) -> dict[str, str]:
    """Environment of a test module's ROS graph (also used for the node process)."""
    return {"ROS_DOMAIN_ID": str(domain_id), "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
            "RMW_IMPLEMENTATION": "rmw_fastrtps_cpp"}


def tiny_checkpoint(stereo_active: bool = True, variant: str = "full") -> Path:
    """An untrained lite0-96x320 checkpoint (cached per model-source hash), as a path.

    An untrained AV-LFE fuses nothing (its output convolution starts at zero, so the aux path
    is the identity); with ``stereo_active`` that convolution gets small random weights so a
    stereo pair changes the depth as a trained model's would. ``variant="baseline"`` has no
    AV-LFE at all (a mono-only model).
    """
    digest = hashlib.sha256()
    for src in sorted((REPO / "iid_rdepth_ros" / "model").glob("*.py")):
        digest.update(src.read_bytes())
    digest.update(f"{PRESET}-{stereo_active}-{variant}".encode())
    root = Path(tempfile.gettempdir()) / f"iid_rdepth_test_ckpt_{os.getuid()}"
    stem = root / f"tiny_{digest.hexdigest()[:16]}"
    if stem.with_suffix(".safetensors").is_file() and stem.with_suffix(".yaml").is_file():
        return stem.with_suffix(".safetensors")
    code = (
        "import sys, torch\n"
        "torch.manual_seed(0); torch.set_num_threads(1)\n"
        "from iid_rdepth_ros.model import build_model, get_preset\n"
        "from iid_rdepth_ros.model.checkpoint import save_checkpoint\n"
        f"model = build_model(get_preset({PRESET!r}), variant={variant!r})\n"
        f"if {stereo_active}:\n"
        "    for name, p in model.named_parameters():\n"
        "        if 'avlfe' in name.lower() and '.out.' in name:\n"
        "            torch.nn.init.normal_(p.data, std=0.05)\n"
        "save_checkpoint(sys.argv[1], model, {'data': 'none (untrained, tests only)',\n"
        "                                     'command': 'test/ros_node_harness.py'})\n"
    )
    root.mkdir(parents=True, exist_ok=True)
    tmp_stem = root / f"tmp_{os.getpid()}_{stem.name}"
    subprocess.run([sys.executable, "-c", code, str(tmp_stem)], check=True, cwd=REPO,
                   env=dict(os.environ, OMP_NUM_THREADS="1"), timeout=600)
    for suffix in (".yaml", ".safetensors"):
        os.replace(tmp_stem.with_suffix(suffix), stem.with_suffix(suffix))
    return stem.with_suffix(".safetensors")


def synthetic_rgb(seed: int, h: int = CAM_H, w: int = CAM_W) -> np.ndarray:
    """A textured uint8 RGB frame (smooth blobs + fine noise), deterministic per seed."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, size=(h // 8 + 1, w // 8 + 1, 3))
    smooth = np.kron(coarse, np.ones((8, 8, 1)))[:h, :w]
    fine = rng.normal(0, 20, size=(h, w, 3))
    return np.clip(smooth + fine, 0, 255).astype(np.uint8)


class NodeProcess(node_process.NodeProcess):
    """``iid_rdepth_node`` in a subprocess of a test module's ROS graph; RSS from /proc."""

    def __init__(self, domain_id: int, namespace: str, params: dict[str, Any],
                 log_dir: Path, threads: int = 1, console_script: bool = False,
                 command: list[str] | None = None,
                 extra_env: dict[str, str] | None = None) -> None:
        executable: tuple[str, ...] | list[str] = node_process.NODE_MODULE
        if command is not None:  # e.g. the entry point of a colcon install
            executable = command
        elif console_script:  # the installed entry point (`ros2 run` runs the same one)
            script = Path(sys.executable).with_name("iid_rdepth_node")
            assert script.is_file(), f"{script} missing: pip install -e . first"
            executable = [str(script)]
        super().__init__(log_dir / f"node_{namespace}.log", namespace, params,
                         env={**ros_env(domain_id), "OMP_NUM_THREADS": str(threads),
                              **(extra_env or {})},
                         executable=executable, cwd=REPO)

    def rss_mb(self) -> float:
        """Resident memory of the node process (MB)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
        raise RuntimeError("VmRSS not found")


class Harness:
    """Test-side ROS node: publishes camera frames, records every output with its arrival time.

    Spins in a background thread; all records are bounded deques.
    """

    def __init__(self, context: Any, namespace: str, keep: int = 400) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node
        from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
        from sensor_msgs.msg import CameraInfo, Image, PointCloud2

        self.ns = namespace
        self.node = Node(f"harness_{namespace}", context=context)
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        pub = lambda t, topic: self.node.create_publisher(  # noqa: E731
            t, f"/{namespace}/{topic}", qos_profile_sensor_data)
        self.image_pub = pub(Image, "image")
        self.info_pub = pub(CameraInfo, "camera_info")
        self.aux_pub = pub(Image, "aux/image")
        self.aux_info_pub = pub(CameraInfo, "aux/camera_info")
        self.lock = threading.Lock()
        self.received: dict[str, deque[tuple[float, Any]]] = {}
        self.counts: dict[str, int] = {}
        self._reliable = reliable
        self._outputs = {"depth": (Image, "depth/image"),
                         "info": (CameraInfo, "depth/camera_info"),
                         "colorized": (Image, "depth/colorized"),
                         "points": (PointCloud2, "points")}
        self._subs: dict[str, Any] = {}
        for key in self._outputs:
            self.received[key] = deque(maxlen=keep)
            self.counts[key] = 0
            self.subscribe(key)
        self.received["diag"] = deque(maxlen=keep)
        self.counts["diag"] = 0
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 10)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._stop = False
        self._thread.start()

    def subscribe(self, key: str) -> None:
        """(Re)subscribe to one output (``depth``, ``info``, ``colorized``, ``points``)."""
        if key not in self._subs:
            mtype, topic = self._outputs[key]
            self._subs[key] = self.node.create_subscription(
                mtype, f"/{self.ns}/{topic}", self._recorder(key), self._reliable)

    def unsubscribe(self, key: str) -> None:
        """Drop the subscription to one output."""
        sub = self._subs.pop(key, None)
        if sub is not None:
            self.node.destroy_subscription(sub)

    def _spin(self) -> None:
        while not self._stop:
            try:
                self.executor.spin_once(timeout_sec=0.05)
            except Exception:  # noqa: BLE001 - context shut down under us
                return

    def _recorder(self, key: str) -> Callable[[Any], None]:
        def record(msg: Any) -> None:
            with self.lock:
                self.received[key].append((time.time(), msg))
                self.counts[key] += 1
        return record

    def _on_diag(self, msg: Any) -> None:
        for status in msg.status:
            if status.name.startswith(f"/{self.ns}/"):
                with self.lock:
                    self.received["diag"].append((time.time(), status))
                    self.counts["diag"] += 1

    def close(self) -> None:
        """Stop spinning and destroy the node."""
        self._stop = True
        self._thread.join(2.0)
        self.executor.shutdown()
        self.node.destroy_node()

    # -- inputs ---------------------------------------------------------------------------
    @staticmethod
    def camera_info(stamp: Any, frame_id: str = "cam_left_optical",
                    baseline: float | None = None, fx: float = FX) -> Any:
        """CameraInfo of the synthetic camera (right camera: ``baseline`` sets P[3])."""
        from sensor_msgs.msg import CameraInfo

        info = CameraInfo(width=CAM_W, height=CAM_H, distortion_model="plumb_bob")
        info.header.stamp = stamp
        info.header.frame_id = frame_id
        info.d = [0.0] * 5
        info.k = [fx, 0.0, CX, 0.0, FY, CY, 0.0, 0.0, 1.0]
        tx = -fx * baseline if baseline else 0.0
        info.p = [fx, 0.0, CX, tx, 0.0, FY, CY, 0.0, 0.0, 0.0, 1.0, 0.0]
        return info

    @staticmethod
    def image(rgb: np.ndarray, stamp: Any, frame_id: str = "cam_left_optical",
              encoding: str = "rgb8") -> Any:
        """Image message of an RGB frame in ``encoding`` (rgb8 or bgr8)."""
        from iid_rdepth_ros.ros.image_codec import array_to_image

        pixels = rgb[..., ::-1] if encoding == "bgr8" else rgb
        msg = array_to_image(np.ascontiguousarray(pixels), encoding)
        msg.header.stamp = stamp
        msg.header.frame_id = frame_id
        return msg

    def stamp_now(self) -> Any:
        """Wall-clock stamp (the node's latency is measured against it)."""
        ns = time.time_ns()
        from builtin_interfaces.msg import Time

        return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)

    def publish(self, rgb: np.ndarray, stamp: Any = None, aux: np.ndarray | None = None,
                info: Any = None, aux_info: Any = None, encoding: str = "rgb8") -> Any:
        """Publish one main frame (+ its camera_info, + the aux pair); returns the stamp."""
        stamp = stamp if stamp is not None else self.stamp_now()
        self.info_pub.publish(info if info is not None else self.camera_info(stamp))
        if aux is not None:
            self.aux_info_pub.publish(aux_info if aux_info is not None else self.camera_info(
                stamp, "cam_right_optical", baseline=BASELINE))
            self.aux_pub.publish(self.image(aux, stamp, "cam_right_optical"))
        self.image_pub.publish(self.image(rgb, stamp, encoding=encoding))
        return stamp

    # -- outputs --------------------------------------------------------------------------
    def wait_for(self, predicate: Callable[[], bool], timeout: float, period: float = 0.02
                 ) -> bool:
        """Poll ``predicate`` until true or ``timeout`` seconds passed."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if predicate():
                return True
            time.sleep(period)
        return predicate()

    def wait_ready(self, node: NodeProcess, timeout: float = 120.0) -> None:
        """Until the node subscribed to the image topic and the harness to its outputs."""
        ok = self.wait_for(lambda: not node.alive() or (
            self.image_pub.get_subscription_count() > 0
            and self.node.count_publishers(f"/{self.ns}/depth/image") > 0), timeout, period=0.1)
        ok = ok and node.alive()
        if not ok:
            raise AssertionError(f"node /{self.ns} did not come up; log:\n{node.log()[-4000:]}")

    def count(self, key: str) -> int:
        """Messages received on an output so far."""
        with self.lock:
            return self.counts[key]

    def find(self, key: str, stamp: Any) -> Any | None:
        """The received message on ``key`` whose header stamp equals ``stamp``."""
        with self.lock:
            for _, msg in reversed(self.received[key]):
                if msg.header.stamp == stamp:
                    return msg
        return None

    def latest(self, key: str) -> tuple[float, Any] | None:
        """(arrival time, message) of the last message on ``key``."""
        with self.lock:
            return self.received[key][-1] if self.received[key] else None

    def request(self, rgb: np.ndarray, keys: tuple[str, ...] = ("depth",), timeout: float = 20.0,
                **kwargs: Any) -> dict[str, Any]:
        """Publish a frame (re-publishing every 0.5 s while nothing answers) and return the
        outputs carrying its stamp."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            stamp = self.publish(rgb, **kwargs)
            if self.wait_for(lambda s=stamp: all(self.find(k, s) for k in keys), 0.5):
                # give the other topics of the same frame a moment
                self.wait_for(lambda s=stamp: all(self.find(k, s) for k in self.received
                                                  if k != "diag"), 0.3)
                return {k: self.find(k, stamp) for k in self.received if k != "diag"}
        raise AssertionError(f"no {keys} for a published frame within {timeout} s")

    def diagnostics(self, timeout: float = 5.0, after: float | None = None) -> dict[str, str]:
        """Key/values of the node's latest DiagnosticStatus (received after ``after``)."""
        after = time.time() if after is None else after
        ok = self.wait_for(lambda: (self.latest("diag") or (0.0, None))[0] > after, timeout)
        if not ok:
            raise AssertionError("no diagnostics from the node")
        status = self.latest("diag")[1]
        values = {kv.key: kv.value for kv in status.values}
        values["_level"] = str(int.from_bytes(status.level, "little")) if isinstance(
            status.level, bytes) else str(status.level)
        values["_message"] = status.message
        return values


AUX_PUBLISHER = """
import sys, time
import numpy as np
import rclpy
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image
sys.path.insert(0, sys.argv[4])
from ros_node_harness import Harness, BASELINE, grid_stamp, synthetic_rgb, stereo_partner
ns, period, seed = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
rclpy.init()
node = rclpy.create_node("aux_camera_" + ns)
img_pub = node.create_publisher(Image, f"/{ns}/aux/image", qos_profile_sensor_data)
info_pub = node.create_publisher(CameraInfo, f"/{ns}/aux/camera_info", qos_profile_sensor_data)
aux = stereo_partner(synthetic_rgb(seed))
last = None
while rclpy.ok():
    stamp = grid_stamp(period)
    if stamp != last:
        last = stamp
        info = Harness.camera_info(stamp, "cam_right_optical", baseline=BASELINE)
        info_pub.publish(info)
        img_pub.publish(Harness.image(aux, stamp, "cam_right_optical"))
    time.sleep(0.002)
"""


def grid_stamp(period: float) -> Any:
    """Wall time rounded down to a multiple of ``period``: two processes that publish on the
    same grid give their frames identical stamps, like a hardware-synchronised stereo pair."""
    from builtin_interfaces.msg import Time

    step = int(round(period * 1e9))
    ns = time.time_ns() // step * step
    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def stereo_partner(rgb: np.ndarray, disparity: int = 6) -> np.ndarray:
    """A right-camera view of ``rgb``: the scene shifted left by ``disparity`` pixels."""
    return np.ascontiguousarray(np.roll(rgb, -disparity, axis=1))


class AuxCamera:
    """A separate process publishing the aux (right) camera on the stamp grid; killable."""

    def __init__(self, domain_id: int, namespace: str, period: float, seed: int,
                 log_dir: Path) -> None:
        env = dict(os.environ, **ros_env(domain_id), OMP_NUM_THREADS="1")
        self._log = open(log_dir / f"aux_{namespace}.log", "a")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-c", AUX_PUBLISHER, namespace, str(period), str(seed),
             str(Path(__file__).parent)],
            cwd=REPO, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        """SIGKILL: the camera disappears without saying goodbye."""
        self.proc.kill()
        self.proc.wait(10)
        self._log.close()


class MainCamera:
    """Background thread publishing the main camera (image + camera_info) on the stamp grid."""

    def __init__(self, harness: Harness, rgb: np.ndarray, period: float) -> None:
        self.harness = harness
        self.rgb = rgb
        self.period = period
        self.published = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        last = None
        while not self._stop.is_set():
            stamp = grid_stamp(self.period)
            if stamp != last:
                last = stamp
                self.harness.publish(self.rgb, stamp=stamp)
                self.published += 1
            time.sleep(0.002)

    def stop(self) -> None:
        """Stop publishing."""
        self._stop.set()
        self._thread.join(2.0)


def _wait_future(future: Any, timeout: float) -> Any:
    end = time.monotonic() + timeout
    while not future.done() and time.monotonic() < end:
        time.sleep(0.01)
    if not future.done():
        raise AssertionError("service call timed out")
    return future.result()


class NodeControl:
    """Parameter and lifecycle service clients of the node under test."""

    def __init__(self, harness: Harness, node_name: str = "iid_rdepth") -> None:
        from lifecycle_msgs.srv import ChangeState, GetState
        from rclpy.parameter_client import AsyncParameterClient

        self.fqn = f"/{harness.ns}/{node_name}"
        self._params = AsyncParameterClient(harness.node, self.fqn)
        self._change = harness.node.create_client(ChangeState, f"{self.fqn}/change_state")
        self._get = harness.node.create_client(GetState, f"{self.fqn}/get_state")

    def set_params(self, values: dict[str, Any], timeout: float = 10.0) -> list[Any]:
        """Set parameters one by one; returns their SetParametersResult list."""
        from rclpy.parameter import Parameter

        assert self._params.wait_for_services(timeout), f"no parameter services on {self.fqn}"
        params = [Parameter(k, value=v) for k, v in values.items()]
        return list(_wait_future(self._params.set_parameters(params), timeout).results)

    def get_params(self, names: list[str], timeout: float = 10.0) -> dict[str, Any]:
        """Current values of ``names``."""
        from rclpy.parameter import parameter_value_to_python

        assert self._params.wait_for_services(timeout)
        values = _wait_future(self._params.get_parameters(names), timeout).values
        return {n: parameter_value_to_python(v) for n, v in zip(names, values, strict=True)}

    def change_state(self, label: str, timeout: float = 120.0) -> bool:
        """Trigger a lifecycle transition by label (configure, activate, ...)."""
        from lifecycle_msgs.srv import ChangeState

        assert self._change.wait_for_service(timeout), f"no change_state on {self.fqn}"
        request = ChangeState.Request()
        request.transition.label = label
        return bool(_wait_future(self._change.call_async(request), timeout).success)

    def state(self, timeout: float = 10.0) -> str:
        """Current lifecycle state label."""
        from lifecycle_msgs.srv import GetState

        assert self._get.wait_for_service(timeout)
        return _wait_future(self._get.call_async(GetState.Request()), timeout).current_state.label


@contextmanager
def ros_context(domain_id: int) -> Iterator[Any]:
    """An rclpy context on ``domain_id`` with localhost discovery; env restored afterwards."""
    import rclpy

    saved = {k: os.environ.get(k) for k in ros_env(domain_id)}
    os.environ.update(ros_env(domain_id))
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain_id)
    try:
        yield context
    finally:
        rclpy.try_shutdown(context=context)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
