"""``iid_rdepth_node``: metric depth, colorized depth and point clouds from a camera (+ stereo).

A lifecycle node (ros2/demos ``lifecycle_py`` pattern): ``configure`` loads the runner on the
inference thread and creates the publishers, ``activate`` subscribes, ``deactivate``
unsubscribes, ``cleanup`` frees the runner. With ``autostart`` (default) it configures and
activates itself on start-up. Topics, parameters and behaviour: DESIGN.md section 5.

Run: ``ros2 run iid_rdepth_ros iid_rdepth_node --ros-args -p model_path:=default`` or
``python -m iid_rdepth_ros.ros.node --ros-args ...``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.clock import Clock, ClockType
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)
from sensor_msgs.msg import CameraInfo, Image, PointCloud2

from iid_rdepth_ros.ros.camera_info import (
    CameraInfoError,
    baseline_from_info,
    intrinsics_from_info,
)
from iid_rdepth_ros.ros.diagnostics import build_array, build_status
from iid_rdepth_ros.ros.image_codec import (
    ImageFormatError,
    conversion_backend,
    image_to_rgb,
)
from iid_rdepth_ros.ros.outputs import OutputBuilder
from iid_rdepth_ros.ros.params import (
    DEPTH_LIMITS,
    DYNAMIC,
    PARAMS,
    SPECS,
    check_value,
    depth_bounds,
)
from iid_rdepth_ros.ros.stats import IssueLog, NodeStats
from iid_rdepth_ros.ros.sync import FrameSet, InputSync, Released, stamp_ns
from iid_rdepth_ros.ros.worker import InferenceWorker
from iid_rdepth_ros.runtime.config import Intrinsics, RunnerConfig

NODE_NAME = "iid_rdepth"
#: how long configure waits for the model to load (first TensorRT build can be slow)
LOAD_TIMEOUT_S = 1800.0
#: how long a main frame may wait for its camera_info / aux partner (wall time)
PAIR_WAIT_S = 0.05
DIAGNOSTICS_PERIOD_S = 1.0
ISSUE_WINDOW_S = 5.0


def reliable_qos(depth: int = 5) -> QoSProfile:
    """Reliable, volatile, keep-last QoS (rviz2's default subscription)."""
    return QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.VOLATILE, history=HistoryPolicy.KEEP_LAST)


def qos_from_name(name: str) -> QoSProfile:
    """``sensor_data`` (best effort, keep last 5) or ``reliable``."""
    if name == "sensor_data":
        return qos_profile_sensor_data
    if name == "reliable":
        return reliable_qos()
    raise ValueError(f"QoS must be sensor_data or reliable, got {name!r}")


@dataclass(frozen=True)
class OutputSettings:
    """The parameters that may change while the node runs (read once per frame)."""

    min_depth: float
    max_depth: float
    colormap: str
    points_stride: int
    points_color: bool
    publish_points: bool
    publish_colorized: bool


class DepthNode(LifecycleNode):
    """The IID-RDepth lifecycle node (see module docstring)."""

    def __init__(self, node_name: str = NODE_NAME, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        for spec in PARAMS:
            self.declare_parameter(spec.name, spec.default, spec.descriptor())
        self.add_on_set_parameters_callback(self._validate_parameters)
        self.add_post_set_parameters_callback(self._apply_parameters)
        self._state = "unconfigured"
        self._settings = self._read_settings()
        self._stats = NodeStats()
        self._issues = IssueLog(self.get_logger().warning)
        self._steady = Clock(clock_type=ClockType.STEADY_TIME)
        self._worker: InferenceWorker[FrameSet] | None = None
        self._runner_info: dict[str, Any] = {}
        self._canonical_focal: float | None = None
        self._model_range: tuple[float, float] | None = None  # the model's, canonical focal
        self._network_width = 1
        self._sync: InputSync | None = None
        self._subs: list[Any] = []
        self._pubs: dict[str, Any] = {}
        self._diag_pub: Any = None
        self._diag_timer: Any = None
        self._poll_timer: Any = None
        self._aux_mode = "auto"
        self._output_resolution = "input"
        self._last_main_stamp: int | None = None
        self._last_frame_id = ""
        self._aux_logged: bool | None = None
        self._outputs = OutputBuilder()  # used on the inference thread only

    # -- parameters -------------------------------------------------------------------------
    def _param(self, name: str) -> Any:
        return SPECS[name].coerce(self.get_parameter(name).value)

    def _read_settings(self) -> OutputSettings:
        return OutputSettings(
            min_depth=float(self._param("min_depth")), max_depth=float(self._param("max_depth")),
            colormap=str(self._param("colormap")), points_stride=int(self._param("points_stride")),
            points_color=bool(self._param("points_color")),
            publish_points=bool(self._param("publish_points")),
            publish_colorized=bool(self._param("publish_colorized")),
        )

    def _validate_parameters(self, params: list[Parameter]) -> SetParametersResult:
        current = {p.name: self._param(p.name) for p in PARAMS}
        current.update({p.name: p.value for p in params if p.name in SPECS})
        for param in params:
            if param.name not in SPECS:
                continue
            if param.name not in DYNAMIC and self._state != "unconfigured":
                return SetParametersResult(
                    successful=False,
                    reason=f"{param.name} is read-only after configure (state {self._state}); "
                    "cleanup the node, set it, then configure again",
                )
            reason = check_value(param.name, param.value, current)
            if reason:
                return SetParametersResult(successful=False, reason=reason)
        return SetParametersResult(successful=True)

    def _apply_parameters(self, params: list[Parameter]) -> None:
        if any(p.name in DYNAMIC for p in params):
            self._settings = self._read_settings()

    # -- lifecycle --------------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Check parameters, load the runner on the inference thread, create publishers."""
        current = {p.name: self._param(p.name) for p in PARAMS}
        for name, value in current.items():
            reason = check_value(name, value, current)
            if reason:
                self.get_logger().error(f"configure failed: parameter {reason}")
                return TransitionCallbackReturn.FAILURE
        config = RunnerConfig(
            backend=current["backend"], model_path=current["model_path"],
            engine_path=current["engine_path"] or None,
            input_height=int(current["input_height"]), input_width=int(current["input_width"]),
            diffusion_steps=int(current["diffusion_steps"]) or None,
            stereo_refine=bool(current["stereo_refine"]),
            min_depth=DEPTH_LIMITS[0], max_depth=DEPTH_LIMITS[1], device="auto",
            spin_wait=False,  # the cores are shared with DDS and the executor
        )
        what = (f"backend={config.backend} model_path={config.model_path!r}"
                + (f" engine_path={config.engine_path!r}" if config.engine_path else ""))
        self.get_logger().info(f"loading the depth model ({what})")
        worker: InferenceWorker[FrameSet] = InferenceWorker(
            setup=lambda: _load_runner(config), process=self._process,
            teardown=lambda runner: runner.close(), on_error=self._on_worker_error,
        )
        try:
            runner = worker.start(timeout=LOAD_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - any load failure fails the transition
            self.get_logger().error(f"configure failed: could not load the model ({what}): {exc}")
            return TransitionCallbackReturn.FAILURE
        aux_mode = current["aux_mode"]
        if not getattr(runner, "has_stereo", True) and aux_mode != "off":
            if aux_mode == "required":
                worker.stop()
                self.get_logger().error(
                    f"configure failed: aux_mode is required but the model ({what}) has no "
                    "auxiliary-view path (AV-LFE); use a stereo checkpoint or aux_mode auto")
                return TransitionCallbackReturn.FAILURE
            self.get_logger().warning("the model has no auxiliary-view path (AV-LFE): "
                                      "aux topics are not subscribed (mono only)")
            aux_mode = "off"
        self._worker = worker
        self._runner_info = dict(runner.info)
        self._canonical_focal = float(runner.canonical_focal)
        self._model_range = getattr(runner, "depth_range", None)
        self._network_width = config.input_width
        self._aux_mode = aux_mode
        self._output_resolution = current["output_resolution"]
        self._sync = InputSync(self._aux_mode, float(current["sync_tolerance"]), PAIR_WAIT_S)
        out_qos = qos_from_name(current["output_qos"])
        self._pubs = {
            "depth": self.create_lifecycle_publisher(Image, "depth/image", out_qos),
            "info": self.create_lifecycle_publisher(CameraInfo, "depth/camera_info", out_qos),
            "colorized": self.create_lifecycle_publisher(Image, "depth/colorized", out_qos),
            "points": self.create_lifecycle_publisher(PointCloud2, "points", out_qos),
        }
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._diag_timer = self.create_timer(DIAGNOSTICS_PERIOD_S, self._publish_diagnostics,
                                             clock=self._steady)
        self._poll_timer = self.create_timer(0.01, self._poll_sync, clock=self._steady,
                                             autostart=False)
        self._stats.reset()
        self._state = "inactive"
        self.get_logger().info(
            f"model loaded: backend {runner.backend}, network {config.input_width}x"
            f"{config.input_height}, T={runner.steps}, canonical focal "
            f"{runner.canonical_focal:.1f} px; image conversion via {conversion_backend()}"
        )
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Subscribe to the camera topics and enable the publishers."""
        in_qos = qos_from_name(self._param("input_qos"))
        self._subs = [
            self.create_subscription(Image, "image", self._on_image, in_qos),
            self.create_subscription(CameraInfo, "camera_info", self._on_info, in_qos),
        ]
        if self._aux_mode != "off":
            self._subs += [
                self.create_subscription(Image, "aux/image", self._on_aux, in_qos),
                self.create_subscription(CameraInfo, "aux/camera_info", self._on_aux_info,
                                         in_qos),
            ]
        self._last_main_stamp = None
        self._state = "active"
        topics = ", ".join(s.topic_name for s in self._subs)
        self.get_logger().info(f"active: listening on {topics}")
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Unsubscribe, finish the frame in flight, disable the publishers."""
        self._unsubscribe()
        if self._worker is not None:
            self._worker.slot.clear()
            self._worker.wait_idle(timeout=30.0)
        self._state = "inactive"
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Free the runner, publishers and timers."""
        self._release()
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Free everything from any state."""
        self._release()
        return super().on_shutdown(state)

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Free everything and go back to unconfigured."""
        self.get_logger().error(f"error in state {state.label}; releasing resources")
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def autostart(self) -> bool:
        """configure + activate; True when the node ends up active."""
        if self.trigger_configure() != TransitionCallbackReturn.SUCCESS:
            self.get_logger().error("autostart: configure failed; the node stays unconfigured "
                                    "(fix the parameters and call the configure transition)")
            return False
        return self.trigger_activate() == TransitionCallbackReturn.SUCCESS

    def _unsubscribe(self) -> None:
        for sub in self._subs:
            self.destroy_subscription(sub)
        self._subs = []
        if self._poll_timer is not None:
            self._poll_timer.cancel()

    def _release(self) -> None:
        self._unsubscribe()
        if self._worker is not None:
            self._worker.stop(timeout=30.0)
            self._worker = None
        for pub in self._pubs.values():
            self.destroy_lifecycle_publisher(pub)
        self._pubs = {}
        for timer in (self._diag_timer, self._poll_timer):
            if timer is not None:
                self.destroy_timer(timer)
        self._diag_timer = self._poll_timer = None
        if self._diag_pub is not None:
            self.destroy_publisher(self._diag_pub)
            self._diag_pub = None
        self._sync = None
        self._runner_info = {}
        self._state = "unconfigured"

    def destroy_node(self) -> None:
        """Stop the inference thread before the node goes away."""
        if self._worker is not None:
            self._worker.stop(timeout=30.0)
            self._worker = None
        super().destroy_node()

    # -- input side (executor thread) -------------------------------------------------------
    def _on_image(self, msg: Image) -> None:
        now = time.monotonic()
        self._stats.frame_in(now)
        stamp = stamp_ns(msg)
        if self._last_main_stamp is not None and stamp < self._last_main_stamp:
            self._issues.report(
                "stamp_backwards",
                f"image stamp went backwards by {(self._last_main_stamp - stamp) / 1e9:.3f} s "
                "(bag loop or clock reset); pairing buffers cleared", now)
            self._sync.reset()
        self._last_main_stamp = stamp
        self._last_frame_id = msg.header.frame_id
        self._dispatch(self._sync.add_main(msg, now))

    def _on_info(self, msg: CameraInfo) -> None:
        self._dispatch(self._sync.add_info(msg, time.monotonic()))

    def _on_aux(self, msg: Image) -> None:
        self._dispatch(self._sync.add_aux(msg, time.monotonic()))

    def _on_aux_info(self, msg: CameraInfo) -> None:
        self._dispatch(self._sync.add_aux_info(msg, time.monotonic()))

    def _poll_sync(self) -> None:
        if self._sync is not None:
            self._dispatch(self._sync.poll(time.monotonic()))

    def _dispatch(self, released: Released) -> None:
        now = time.monotonic()
        for _frame, kind, why in released.dropped:
            self._stats.count("dropped")
            if kind != "superseded":
                self._issues.report(kind, why, now)
        for frame in released.ready:
            if self._worker is not None and self._worker.submit(frame) is not None:
                self._stats.count("dropped")
        if self._poll_timer is not None:
            if self._sync is not None and self._sync.pending:
                if self._poll_timer.is_canceled():
                    self._poll_timer.reset()
            elif not self._poll_timer.is_canceled():
                self._poll_timer.cancel()

    # -- inference thread -------------------------------------------------------------------
    def _bad(self, kind: str, message: str) -> None:
        self._stats.count("bad_input")
        self._issues.report(kind, message, time.monotonic())

    def _on_worker_error(self, exc: BaseException) -> None:
        self._stats.count("bad_input")
        self._issues.report("inference_error", f"{type(exc).__name__}: {exc}", time.monotonic())

    def _fallback_intrinsics(self, hw: tuple[int, int]) -> Intrinsics:
        """Intrinsics for which the runner applies no focal rescale (depth at the canonical
        focal), used when camera_info is unusable."""
        assert self._canonical_focal is not None
        f = self._canonical_focal * hw[1] / self._network_width
        return Intrinsics(fx=f, fy=f, cx=hw[1] / 2 - 0.5, cy=hw[0] / 2 - 0.5)

    def _prepare_aux(self, frame: FrameSet, image_hw: tuple[int, int]
                     ) -> tuple[np.ndarray | None, float | None, str]:
        """Decode and check the aux view; (aux rgb, baseline, mono reason)."""
        if frame.aux_image is None:
            return None, None, frame.mono_reason
        try:
            aux = image_to_rgb(frame.aux_image)
        except ImageFormatError as exc:
            self._bad(f"aux_{exc.kind}", f"aux image: {exc}; using mono")
            return None, None, f"aux image unusable ({exc.kind})"
        if aux.shape[:2] != image_hw:
            self._bad("aux_size", f"aux image is {aux.shape[1]}x{aux.shape[0]} but the main "
                      f"image is {image_hw[1]}x{image_hw[0]}; using mono")
            return None, None, "aux size differs from the main image"
        if frame.aux_info is None:
            self._bad("aux_camera_info", "no aux camera_info received; using mono")
            return None, None, "no aux camera_info"
        try:
            baseline = baseline_from_info(frame.aux_info)
        except CameraInfoError as exc:
            self._bad("aux_baseline", f"{exc}; using mono")
            return None, None, "aux camera_info has no baseline"
        return aux, baseline, ""

    def _process(self, runner: Any, frame: FrameSet) -> None:
        t0 = time.perf_counter()
        header = frame.image.header
        try:
            rgb = image_to_rgb(frame.image)
        except ImageFormatError as exc:
            self._bad(exc.kind, f"image: {exc}; frame skipped")
            return
        hw = rgb.shape[:2]
        geometry_ok = True
        try:
            intrinsics = intrinsics_from_info(frame.info, hw)
        except CameraInfoError as exc:
            self._bad("focal", f"{exc}; depth published at the model's canonical focal, "
                      "camera_info and cloud skipped")
            intrinsics = self._fallback_intrinsics(hw)
            geometry_ok = False
        aux, baseline, mono_reason = self._prepare_aux(frame, hw)
        t1 = time.perf_counter()
        try:
            depth = runner.infer(rgb, aux, intrinsics, baseline, self._output_resolution)
        except ValueError as exc:
            self._bad("rejected", f"runner rejected the frame: {exc}")
            return
        t2 = time.perf_counter()
        s = self._settings
        assert self._canonical_focal is not None
        lo, hi, color_lo = depth_bounds(s.min_depth, s.max_depth, self._model_range,
                                        intrinsics.fx * self._network_width / hw[1]
                                        / self._canonical_focal)
        with np.errstate(invalid="ignore"):
            depth[(depth < lo) | (depth > hi)] = np.nan
        out_hw = depth.shape
        # depth and its camera_info first: consumers waiting for depth do not wait for the
        # colormap and the cloud
        out = self._outputs
        builders: list[tuple[str, Any]] = [("depth", lambda: out.depth(depth, header))]
        if geometry_ok:
            builders.append(("info", lambda: out.camera_info(frame.info, intrinsics, out_hw,
                                                              hw)))
        # colormap and cloud only while someone listens (lazy outputs, as image_pipeline does)
        lazy = {"colorized": s.publish_colorized, "points": s.publish_points and geometry_ok}
        listening = {key: wanted and self._pubs[key].get_subscription_count() > 0
                     for key, wanted in lazy.items()}
        if listening["colorized"]:
            builders.append(("colorized", lambda: out.colorized(
                depth, header, color_lo, hi, s.colormap)))
        if listening["points"]:
            builders.append(("points", lambda: out.points(
                depth, intrinsics, hw, header, s.points_stride, rgb if s.points_color else None)))
        skipped = sum(lazy.values()) - sum(listening.values())
        if skipped:
            self._stats.count("outputs_skipped", skipped)
        stages = {"decode": t1 - t0, "infer": t2 - t1, "messages": 0.0, "publish": 0.0}
        for key, build in builders:
            t3 = time.perf_counter()
            msg = build()
            t4 = time.perf_counter()
            self._pubs[key].publish(msg)
            t5 = time.perf_counter()
            stages[f"{key} msg"] = t4 - t3
            stages["messages"] += t4 - t3
            stages["publish"] += t5 - t4
        stereo = aux is not None
        self._stats.frame_out(time.monotonic(), time.monotonic() - frame.received, stereo,
                              mono_reason, stages)
        self._log_aux_change(stereo, mono_reason)

    def _log_aux_change(self, stereo: bool, reason: str) -> None:
        if self._aux_mode == "off" or stereo == self._aux_logged:
            return
        if stereo:
            self.get_logger().info("aux view engaged: stereo depth (AV-LFE)")
        elif self._aux_logged is not None:
            self.get_logger().warning(f"aux view lost ({reason}): falling back to mono")
        self._aux_logged = stereo

    # -- diagnostics ------------------------------------------------------------------------
    def _publish_diagnostics(self) -> None:
        if self._diag_pub is None:
            return
        now = time.monotonic()
        status = build_status(
            name=f"{self.get_fully_qualified_name()}: depth",
            hardware_id=self._last_frame_id, state=self._state,
            snap=self._stats.snapshot(now), issues=self._issues.recent(now, ISSUE_WINDOW_S),
            runner_info=self._runner_info, aux_mode=self._aux_mode,
            extra={"output resolution": self._output_resolution,
                   "image conversion": conversion_backend(),
                   "pending pairs": self._sync.pending if self._sync else 0},
        )
        self._diag_pub.publish(build_array(self.get_clock().now().to_msg(), status))


def _load_runner(config: RunnerConfig) -> Any:
    from iid_rdepth_ros.export.open_runner import open_runner

    runner = open_runner(config)
    try:
        runner.load()
    except BaseException:
        runner.close()
        raise
    return runner


def main(args: list[str] | None = None) -> None:
    """Console script ``iid_rdepth_node``."""
    rclpy.init(args=args)
    node = DepthNode()
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        if node.get_parameter("autostart").value:
            node.autostart()
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
