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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from iid_rdepth_ros.geometry.camera import Intrinsics
from iid_rdepth_ros.ros import node_process
from iid_rdepth_ros.ros.camera_info import make_camera_info
from iid_rdepth_ros.ros.driver import NodeDriver, time_msg

REPO = Path(__file__).resolve().parents[2]
#: camera size of the synthetic frames: not a multiple of 32, so the runner resizes
CAM_H, CAM_W = 120, 400
FX = FY = 280.0
CX, CY = (CAM_W - 1) / 2, (CAM_H - 1) / 2
BASELINE = 0.54
PRESET = "lite0-96x320"


_DOMAIN_LOCKS: dict[int, Any] = {}


def free_domain(preferred: int) -> int:
    """A ROS_DOMAIN_ID no other test process on this machine holds: ``preferred`` if free, else
    the next free one (1..101), held until this process ends. Test modules call it once, so
    test runs in several checkouts at the same time do not hear each other."""
    import fcntl

    lock_dir = Path(tempfile.gettempdir()) / f"iid_rdepth_test_domains_{os.getuid()}"
    lock_dir.mkdir(parents=True, exist_ok=True)
    for offset in range(101):
        domain = (preferred - 1 + offset) % 101 + 1
        if domain in _DOMAIN_LOCKS:
            continue
        handle = open(lock_dir / f"{domain}.lock", "w")  # noqa: SIM115 - held on purpose
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        _DOMAIN_LOCKS[domain] = handle
        return domain
    raise RuntimeError("no free ROS_DOMAIN_ID in 1..101")


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


class Harness(NodeDriver):
    """The tests' driver of the node under test: ``ros.driver.NodeDriver`` publishing the
    synthetic camera (best effort, as camera drivers do) and recording every output."""

    def __init__(self, context: Any, namespace: str, keep: int = 400, **driver: Any) -> None:
        super().__init__(context, namespace, keep=keep, name=f"harness_{namespace}", **driver)
        self.image_pub = self.publishers.get("image")
        self.info_pub = self.publishers.get("camera_info")
        self.aux_pub = self.publishers.get("aux/image")
        self.aux_info_pub = self.publishers.get("aux/camera_info")

    @property
    def received(self) -> dict[str, list[tuple[float, Any]]]:
        """(arrival time.time(), message) per output key, oldest first (hold ``lock``)."""
        return {key: list(records.values()) for key, records in self.records.items()}

    # -- inputs ---------------------------------------------------------------------------
    @staticmethod
    def camera_info(stamp: Any, frame_id: str = "cam_left_optical",
                    baseline: float | None = None, fx: float = FX) -> Any:
        """CameraInfo of the synthetic camera (right camera: ``baseline`` sets P[3])."""
        return make_camera_info((CAM_H, CAM_W), Intrinsics(fx, FY, CX, CY), baseline, stamp,
                                frame_id)

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

    @staticmethod
    def stamp_now() -> Any:
        """Wall-clock stamp (the node's latency is measured against it)."""
        return time_msg()

    def publish(self, rgb: np.ndarray, stamp: Any = None, aux: np.ndarray | None = None,  # type: ignore[override]
                info: Any = None, aux_info: Any = None, encoding: str = "rgb8") -> Any:
        """Publish one main frame (+ its camera_info, + the aux pair); returns the stamp."""
        stamp = stamp if stamp is not None else self.stamp_now()
        messages = {"image": self.image(rgb, stamp, encoding=encoding),
                    "camera_info": info if info is not None else self.camera_info(stamp)}
        if aux is not None:
            messages["aux/camera_info"] = (aux_info if aux_info is not None else self.camera_info(
                stamp, "cam_right_optical", baseline=BASELINE))
            messages["aux/image"] = self.image(aux, stamp, "cam_right_optical")
        super().publish(messages)
        return stamp

    # -- outputs --------------------------------------------------------------------------
    def wait_ready(self, node: NodeProcess, timeout: float = 120.0) -> None:
        """Until the node subscribed to the image topic and the harness to its outputs."""
        ok = self.wait_for(lambda: not node.alive() or self.node_ready(), timeout, period=0.1)
        if not (ok and node.alive()):
            raise AssertionError(f"node /{self.ns} did not come up; log:\n{node.log()[-4000:]}")

    def request(self, rgb: np.ndarray, keys: tuple[str, ...] = ("depth",), timeout: float = 20.0,
                **kwargs: Any) -> dict[str, Any]:
        """Publish a frame (re-publishing every 0.5 s while nothing answers) and return the
        outputs carrying its stamp."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            stamp = self.publish(rgb, **kwargs)
            if self.wait_for(lambda s=stamp: all(self.find(k, s) for k in keys), 0.5):
                # give the other topics of the same frame a moment
                self.wait_for(lambda s=stamp: all(self.find(k, s) for k in self._subs), 0.3)
                return {k: self.find(k, stamp) for k in self.records if k in self._subs}
        raise AssertionError(f"no {keys} for a published frame within {timeout} s")

    def diagnostics(self, timeout: float = 5.0, after: float | None = None) -> dict[str, str]:
        """Key/values of the node's latest DiagnosticStatus (received after ``after``,
        time.time(); default now)."""
        values = self.wait_diagnostics(timeout, after)
        if not values:
            raise AssertionError("no diagnostics from the node")
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
    step = int(round(period * 1e9))
    return time_msg(time.time_ns() // step * step)


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


def run_camera(domain_id: int, namespace: str, frames: dict[str, Any], log_dir: Path, *,
               profile: bool = True, timeout: float = 120.0, **options: Any) -> list[int]:
    """Publish ``frames`` (``left``, optional ``right``, ``camera``; see camera_process.py)
    from a camera driver in its own process until done; returns the published stamps (ns).
    ``profile``: the camera process uses the shipped Fast DDS profile (large shared-memory
    segment, docs/dds.md); ``options``: camera_process.py options (``qos``, ``rate``,
    ``count``, ``aux_delay``, ``compressed``)."""
    from iid_rdepth_ros.ros.dds import DEFAULT_FASTDDS_PROFILE

    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    npz = Path(tempfile.mkstemp(suffix=".npz", dir=log_dir)[1])
    np.savez(npz, **frames)
    args = [sys.executable, str(Path(__file__).with_name("camera_process.py")), namespace,
            str(npz)]
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        args += [flag] if value is True else [] if value is False else [flag, str(value)]
    env = dict(os.environ, **ros_env(domain_id), OMP_NUM_THREADS="1")
    env.pop("FASTDDS_DEFAULT_PROFILES_FILE", None)
    if profile:
        env["FASTDDS_DEFAULT_PROFILES_FILE"] = DEFAULT_FASTDDS_PROFILE
    done = subprocess.run(args, env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)
    npz.unlink()
    lines = done.stdout.splitlines()
    assert done.returncode == 0 and lines and lines[-1].startswith("done"), (
        f"camera process failed ({done.returncode}):\n{done.stdout}\n{done.stderr[-3000:]}")
    return [int(line.split()[1]) for line in lines if line.startswith("published ")]


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


@contextmanager
def running_node(domain_id: int, namespace: str, params: dict[str, Any], log_dir: Path, *,
                 keep: int = 400, wait: bool = True, warm: bool = False, log_tail: int = 3000,
                 driver: dict[str, Any] | None = None,
                 **node_options: Any) -> Iterator[tuple[Harness, NodeProcess]]:
    """The node under test in its own process plus the test's driver of it (``driver``:
    NodeDriver options, e.g. ``input_qos``, ``outputs``), on their own ROS domain: ready
    (``wait``) and warmed by one frame (``warm``); on exit the node must end cleanly (exit
    status 0; its log tail is printed)."""
    with ros_context(domain_id) as context:
        node = NodeProcess(domain_id, namespace, params, Path(log_dir), **node_options)
        try:
            harness = Harness(context, namespace, keep=keep, **(driver or {}))
        except BaseException:
            node.stop()
            raise
        try:
            if wait:
                harness.wait_ready(node)
            if warm:
                harness.request(synthetic_rgb(0))
            yield harness, node
        finally:
            harness.close()
            code = node.stop()
            print(node.log()[-log_tail:])
            assert code == 0, f"node exited with {code}"
