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
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

from iid_rdepth_ros.geometry.distortion import Distortion
from iid_rdepth_ros.ros.camera_info import (
    CameraInfoError,
    baseline_from_info,
    distortion_from_info,
    distortion_note,
    intrinsics_from_info,
)
from iid_rdepth_ros.ros.diagnostics import build_array, build_status
from iid_rdepth_ros.ros.image_codec import (
    ImageFormatError,
    compressed_to_rgb,
    conversion_backend,
    image_to_rgb,
)
from iid_rdepth_ros.ros.outputs import OutputBuilder
from iid_rdepth_ros.ros.params import (
    DEPTH_LIMITS,
    DYNAMIC,
    PARAMS,
    SPECS,
    as_declared_type,
    check_value,
    depth_bounds,
)
from iid_rdepth_ros.ros.qos import AdaptiveSubscription, qos_from_name, reliable_qos
from iid_rdepth_ros.ros.stats import IssueLog, NodeStats
from iid_rdepth_ros.ros.sync import FrameSet, InputSync, Released, stamp_ns
from iid_rdepth_ros.ros.worker import InferenceWorker
from iid_rdepth_ros.runtime.config import Intrinsics, RunnerConfig
from iid_rdepth_ros.runtime.network_size import fit
from iid_rdepth_ros.runtime.processing import mask_depth

NODE_NAME = "iid_rdepth"
#: how long configure waits for the model to load (first TensorRT build can be slow)
LOAD_TIMEOUT_S = 1800.0
#: how long a main frame may wait for its camera_info / aux partner (wall time), on top of
#: sync_tolerance: transport time of a large image
PAIR_WAIT_S = 0.05
DIAGNOSTICS_PERIOD_S = 1.0
ISSUE_WINDOW_S = 5.0
#: how often input_qos auto looks at the publishers (s)
QOS_POLL_S = 0.25
#: share of a fixed-size network input that may be padding before the node warns
PADDING_WARN = 0.1

__all__ = ["DepthNode", "main", "qos_from_name", "reliable_qos"]


@dataclass(frozen=True)
class OutputSettings:
    """The parameters that may change while the node runs (read once per frame)."""

    min_depth: float
    max_depth: float
    min_confidence: float
    colormap: str
    points_stride: int
    points_color: bool
    points_distortion: str
    publish_points: bool
    publish_colorized: bool


class DepthNode(LifecycleNode):
    """The IID-RDepth lifecycle node (see module docstring)."""

    def __init__(self, node_name: str = NODE_NAME, **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self._param_errors = self._declare_parameters()
        self.add_pre_set_parameters_callback(self._coerce_parameters)
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
        self._sync: InputSync | None = None
        self._subs: list[AdaptiveSubscription] = []
        self._qos_timer: Any = None
        self._aux_image_topic = ""
        self._transport = "raw"
        self._max_baseline = float("inf")
        self._backend_note = ""
        self._conditions: dict[str, str] = {}  # lasting input problems (diagnostics, WARN)
        self._camera_hw: tuple[int, int] | None = None
        self._network_hw: tuple[int, int] | None = None
        self._warned: set[str] = set()  # one-time warnings given
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
    def _declare_parameters(self) -> dict[str, str]:
        """Declare every parameter; an integer given for a floating-point one is taken as a
        float; a value of the wrong type is reported (configure fails until the parameter is
        set right) instead of ending the process. Returns {name: why} of the refused ones."""
        from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException

        overrides = getattr(self, "_parameter_overrides", {})
        errors: dict[str, str] = {}
        for spec in PARAMS:
            given = overrides.get(spec.name)
            if given is not None:
                value = as_declared_type(spec.name, given.value)
                if value is not given.value:
                    overrides[spec.name] = Parameter(spec.name, value=value)
            try:
                self.declare_parameter(spec.name, spec.default, spec.descriptor())
            except (InvalidParameterTypeException, InvalidParameterValueException):
                errors[spec.name] = _declare_error(spec, given.value if given is not None
                                                   else None)
                self.declare_parameter(spec.name, spec.default, spec.descriptor(),
                                       ignore_override=True)
        for error in errors.values():
            self.get_logger().error(f"parameter {error}; configure will fail until it is set")
        return errors

    @staticmethod
    def _coerce_parameters(params: list[Parameter]) -> list[Parameter]:
        """``ros2 param set`` with an integer for a floating-point parameter sets a float."""
        out = []
        for param in params:
            value = as_declared_type(param.name, param.value)
            out.append(param if value is param.value else Parameter(param.name, value=value))
        return out

    def _param(self, name: str) -> Any:
        return SPECS[name].coerce(self.get_parameter(name).value)

    def _read_settings(self) -> OutputSettings:
        return OutputSettings(
            min_depth=float(self._param("min_depth")), max_depth=float(self._param("max_depth")),
            min_confidence=float(self._param("min_confidence")),
            colormap=str(self._param("colormap")), points_stride=int(self._param("points_stride")),
            points_color=bool(self._param("points_color")),
            points_distortion=str(self._param("points_distortion")),
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
        for param in params:
            self._param_errors.pop(param.name, None)
        if any(p.name in DYNAMIC for p in params):
            self._settings = self._read_settings()

    # -- lifecycle --------------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Check parameters, load the runner on the inference thread, create publishers."""
        for error in self._param_errors.values():
            self.get_logger().error(f"configure failed: parameter {error}")
            return TransitionCallbackReturn.FAILURE
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
            max_disparity=int(current["max_disparity"]) or None,
            min_depth=DEPTH_LIMITS[0], max_depth=DEPTH_LIMITS[1], device="auto",
            spin_wait=False,  # the cores are shared with DDS and the executor
        )
        what = (f"backend={config.backend} model_path={config.model_path!r}"
                + (f" engine_path={config.engine_path!r}" if config.engine_path else ""))
        self.get_logger().info(f"loading the depth model ({what})")
        from iid_rdepth_ros.runtime.factory import backend_choice

        try:
            self._backend_note = backend_choice(config)[1]
        except Exception as exc:  # noqa: BLE001 - no backend installed: one clear line
            self.get_logger().error(f"configure failed: {exc}")
            return TransitionCallbackReturn.FAILURE
        worker: InferenceWorker[FrameSet] = InferenceWorker(
            setup=lambda: _load_runner(config), process=self._process,
            teardown=lambda cameras: cameras.close(), on_error=self._on_worker_error,
        )
        try:
            cameras = worker.start(timeout=LOAD_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - any load failure fails the transition
            self.get_logger().error(f"configure failed: could not load the model ({what}): {exc}")
            return TransitionCallbackReturn.FAILURE
        runner = cameras.runner
        if self._backend_note:
            self.get_logger().warning(f"{self._backend_note}; running on {runner.backend} "
                                      f"({_device(runner.info)}) instead")
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
        self._aux_mode = aux_mode
        self._output_resolution = current["output_resolution"]
        self._transport = current["image_transport"]
        self._max_baseline = float(current["max_baseline"])
        self._conditions = {}
        self._camera_hw = self._network_hw = None
        self._warned = set()
        tolerance = float(current["sync_tolerance"])
        self._sync = InputSync(self._aux_mode, tolerance, tolerance + PAIR_WAIT_S)
        out_qos = qos_from_name(current["output_qos"])
        self._pubs = {
            "depth": self.create_lifecycle_publisher(Image, "depth/image", out_qos),
            "info": self.create_lifecycle_publisher(CameraInfo, "depth/camera_info", out_qos),
            "confidence": self.create_lifecycle_publisher(Image, "depth/confidence", out_qos),
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
        size = ("fixed by the graph/engine" if cameras.fixed_hw else
                "pixel budget, aspect kept per camera")
        hw = runner.network_hw
        self.get_logger().info(
            f"model loaded: backend {runner.backend} ({_device(runner.info)}), network "
            f"{hw[1]}x{hw[0]} ({size}), T={runner.steps}, canonical focal "
            f"{runner.canonical_focal:.1f} px; image conversion via {conversion_backend()}"
        )
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Subscribe to the camera topics and enable the publishers."""
        qos_name = self._param("input_qos")
        fixed = None if qos_name == "auto" else qos_from_name(qos_name)
        image_type, suffix = ((CompressedImage, "/compressed") if self._transport == "compressed"
                              else (Image, ""))
        topics = [(image_type, "image" + suffix, self._on_image),
                  (CameraInfo, "camera_info", self._on_info)]
        if self._aux_mode != "off":
            topics += [(image_type, "aux/image" + suffix, self._on_aux),
                       (CameraInfo, "aux/camera_info", self._on_aux_info)]
        self._subs = [AdaptiveSubscription(self, mtype, topic, callback, fixed,
                                           on_change=self._on_qos_change)
                      for mtype, topic, callback in topics]
        self._aux_image_topic = self._subs[2].topic if self._aux_mode != "off" else ""
        if fixed is None:
            self._qos_timer = self.create_timer(QOS_POLL_S, self._update_qos, clock=self._steady)
        self._last_main_stamp = None
        self._state = "active"
        names = ", ".join(f"{s.topic} ({s.describe})" for s in self._subs)
        self.get_logger().info(f"active: listening on {names}")
        return super().on_activate(state)

    def _on_qos_change(self, topic: str, choice: str) -> None:
        self.get_logger().info(f"input_qos auto: {topic} subscribed {choice} (what its "
                               "publishers offer)")

    def _update_qos(self) -> None:
        for sub in self._subs:
            sub.update()
        if self._sync is not None and self._aux_image_topic:
            self._sync.set_aux_publishers(self.count_publishers(self._aux_image_topic))

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
        if self._qos_timer is not None:
            self.destroy_timer(self._qos_timer)
            self._qos_timer = None
        for sub in self._subs:
            sub.destroy()
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
        if self._aux_image_topic and not self._sync.aux_present(now):
            # the first stereo frame waits for its partner once the aux camera is announced
            self._sync.set_aux_publishers(self.count_publishers(self._aux_image_topic))
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

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.get_logger().warning(message)

    def _on_worker_error(self, exc: BaseException) -> None:
        self._stats.count("bad_input")
        self._issues.report("inference_error", f"{type(exc).__name__}: {exc}", time.monotonic())

    def _decode(self, msg: Any) -> np.ndarray:
        return compressed_to_rgb(msg) if self._transport == "compressed" else image_to_rgb(msg)

    def _fallback_intrinsics(self, hw: tuple[int, int], network_hw: tuple[int, int]
                             ) -> Intrinsics:
        """Intrinsics for which the runner applies no focal rescale (depth at the canonical
        focal), used when camera_info is unusable."""
        assert self._canonical_focal is not None
        f = self._canonical_focal / fit(hw, network_hw).scale_xy[0]
        return Intrinsics(fx=f, fy=f, cx=hw[1] / 2 - 0.5, cy=hw[0] / 2 - 0.5)

    def _check_distortion(self, info: Any, which: str, cloud: str = "") -> None:
        """A lasting condition and a one-time warning for a camera_info with non-zero D;
        ``cloud`` says what happens to the cloud (main camera, :meth:`_cloud_distortion`)."""
        note = distortion_note(info)
        key = f"{which} camera distortion"
        if not note:
            self._conditions.pop(key, None)
            return
        self._conditions[key] = (f"{note}: the node needs rectified images (P is used); "
                                 "depth/camera_info keeps this D and R"
                                 + (f"; {cloud}" if cloud else ""))
        self._warn_once(f"{key}:{note}:{cloud}", (
            f"{which} camera_info has a {note}. The node needs a rectified image (run "
            "image_proc's rectify node and feed it image_rect); it uses P as the camera and "
            "keeps the distortion model, D and R in depth/camera_info (the depth is "
            "pixel-aligned with the input). If the image is already rectified, this is "
            "expected: image_proc passes the raw camera's camera_info on"
            + (f". Cloud: {cloud}" if cloud else "")))

    def _cloud_distortion(self, info: Any, hw: tuple[int, int], mode: str
                          ) -> tuple[bool, Distortion | None]:
        """How the cloud treats the main camera's distortion under ``points_distortion``
        (``mode``): (publish a cloud?, the distortion its rays go through, None = through P).
        Updates the main camera's distortion condition and warning to say so."""
        if not distortion_note(info):
            self._check_distortion(info, "main")
            return True, None
        publish, distortion = True, None
        if mode == "rectified":
            # image_proc's rectify node publishes image_rect without a camera_info of its own,
            # so consumers get the raw camera's, D included (ros-perception/image_pipeline
            # issue 1035): the image is taken as rectified and D is ignored
            cloud = ("points back-projected through P, D ignored (points_distortion: "
                     "rectified: the image is taken as rectified)")
        elif mode == "skip":
            publish = False
            cloud = "points not published (points_distortion: skip)"
        else:
            try:
                distortion = distortion_from_info(info, hw)
                cloud = ("points back-projected through K and D, each pixel's ray undistorted "
                         "(points_distortion: model; if the image is already rectified, set "
                         "points_distortion: rectified)")
            except CameraInfoError as exc:
                publish = False
                cloud = (f"points not published: {exc} (points_distortion: model; if the "
                         "image is already rectified, set points_distortion: rectified)")
        self._check_distortion(info, "main", cloud)
        return publish, distortion

    def _runner_for(self, cameras: Any, hw: tuple[int, int]) -> Any:
        """The runner for this camera size (reopened at the size the camera's aspect needs)."""
        runner = cameras.for_camera(hw)
        net = runner.network_hw
        if (hw, net) != (self._camera_hw, self._network_hw):
            self._camera_hw, self._network_hw = hw, net
            self._runner_info = dict(runner.info)
            placement = fit(hw, net)
            how = ("fixed by the graph/engine" if cameras.fixed_hw else "aspect kept")
            self.get_logger().info(f"camera {hw[1]}x{hw[0]}: network input {net[1]}x{net[0]} "
                                   f"({how}, {placement.padding_share:.0%} padding)")
            failed = cameras.failed.get(cameras.size_for(hw))
            if failed:
                self._conditions["network size"] = (
                    f"could not open the model at {cameras.size_for(hw)[::-1]}: {failed}")
            if placement.padding_share > PADDING_WARN:
                self._conditions["network padding"] = (
                    f"{placement.padding_share:.0%} of the {net[1]}x{net[0]} network input is "
                    f"padding for a {hw[1]}x{hw[0]} camera")
                self._warn_once(f"padding:{hw}:{net}", (
                    f"the model's network input {net[1]}x{net[0]} does not have the camera's "
                    f"aspect ratio ({hw[1]}x{hw[0]}): {placement.padding_share:.0%} of it is "
                    "padding (letterboxed, geometry kept). For this camera export a graph with "
                    f"'iid-rdepth export --camera {hw[1]}x{hw[0]}' and build its engine"))
            else:
                self._conditions.pop("network padding", None)
        return runner

    def _prepare_aux(self, frame: FrameSet, image_hw: tuple[int, int], intrinsics: Intrinsics
                     ) -> tuple[np.ndarray | None, float | None, Intrinsics | None, str]:
        """Decode and check the aux view; (aux rgb, baseline, aux intrinsics, mono reason)."""
        if frame.aux_image is None:
            return None, None, None, frame.mono_reason
        try:
            aux = self._decode(frame.aux_image)
        except ImageFormatError as exc:
            self._bad(f"aux_{exc.kind}", f"aux image: {exc}; using mono")
            return None, None, None, f"aux image unusable ({exc.kind})"
        if aux.shape[:2] != image_hw:
            self._bad("aux_size", f"aux image is {aux.shape[1]}x{aux.shape[0]} but the main "
                      f"image is {image_hw[1]}x{image_hw[0]}; using mono")
            return None, None, None, "aux size differs from the main image"
        if frame.aux_info is None:
            self._bad("aux_camera_info", "no aux camera_info received; using mono")
            return None, None, None, "no aux camera_info"
        try:
            baseline = baseline_from_info(frame.aux_info, self._max_baseline)
            aux_intrinsics = intrinsics_from_info(frame.aux_info, image_hw)
        except CameraInfoError as exc:
            self._bad(f"aux_{exc.kind}", f"{exc}; using mono")
            return None, None, None, f"aux camera_info unusable ({exc.kind})"
        from iid_rdepth_ros.runtime.processing import aux_shift

        try:
            dx, dy = aux_shift(intrinsics, aux_intrinsics)
        except ValueError as exc:
            self._bad("aux_not_rectified", f"{exc}; using mono")
            return None, None, None, "aux camera not rectified with the main camera"
        self._check_distortion(frame.aux_info, "aux")
        self._runner_info["aux principal point offset px"] = f"{-dx + 0.0:.2f}, {-dy + 0.0:.2f}"
        return aux, baseline, aux_intrinsics, ""

    def _process(self, cameras: Any, frame: FrameSet) -> None:
        t0 = time.perf_counter()
        header = frame.image.header
        try:
            rgb = self._decode(frame.image)
        except ImageFormatError as exc:
            self._bad(exc.kind, f"image: {exc}; frame skipped")
            return
        hw = rgb.shape[:2]
        runner = self._runner_for(cameras, hw)
        geometry_ok = True
        try:
            intrinsics = intrinsics_from_info(frame.info, hw)
        except CameraInfoError as exc:
            if exc.kind != "focal":
                self._bad(exc.kind, str(exc))
                return
            self._bad("focal", f"{exc}; depth published at the model's canonical focal, "
                      "camera_info and cloud skipped")
            intrinsics = self._fallback_intrinsics(hw, runner.network_hw)
            geometry_ok = False
        s = self._settings
        cloud_ok, distortion = self._cloud_distortion(frame.info, hw, s.points_distortion)
        aux, baseline, aux_intrinsics, mono_reason = (
            self._prepare_aux(frame, hw, intrinsics) if geometry_ok else
            (None, None, None, "camera_info unusable"))
        t1 = time.perf_counter()
        try:
            result = runner.infer_full(rgb, aux, intrinsics, baseline, self._output_resolution,
                                       aux_intrinsics)
        except ValueError as exc:
            self._bad("rejected", f"runner rejected the frame: {exc}")
            return
        t2 = time.perf_counter()
        depth, confidence = result.depth, result.confidence
        # min_depth / max_depth 0: the model's range at this camera's focal (params.depth_bounds)
        lo, hi, color_lo = depth_bounds(
            s.min_depth, s.max_depth, getattr(runner, "depth_range", None),
            intrinsics.fx * fit(hw, runner.network_hw).scale_xy[0] / float(runner.canonical_focal))
        mask_depth(depth, confidence, lo, hi, s.min_confidence)
        out_hw = depth.shape
        # depth and its camera_info first: consumers waiting for depth do not wait for the
        # colormap and the cloud
        out = self._outputs
        builders: list[tuple[str, Any]] = [("depth", lambda: out.depth(depth, header))]
        if geometry_ok:
            builders.append(("info", lambda: out.camera_info(frame.info, intrinsics, out_hw,
                                                              hw)))
        # confidence, colormap and cloud only while someone listens (lazy outputs, as
        # image_pipeline does)
        lazy = {"confidence": confidence is not None, "colorized": s.publish_colorized,
                "points": s.publish_points and geometry_ok and cloud_ok}
        listening = {key: wanted and self._pubs[key].get_subscription_count() > 0
                     for key, wanted in lazy.items()}
        if listening["confidence"]:
            builders.append(("confidence", lambda: out.confidence(confidence, header)))
        if listening["colorized"]:
            builders.append(("colorized", lambda: out.colorized(
                depth, header, color_lo, hi, s.colormap)))
        if listening["points"]:
            builders.append(("points", lambda: out.points(
                depth, intrinsics, hw, header, s.points_stride, rgb if s.points_color else None,
                distortion)))
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
        stereo = aux is not None and runner.has_stereo
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
        info = dict(self._runner_info)
        extra: dict[str, Any] = {
            "device": _device(info),
            "output resolution": self._output_resolution,
            "image transport": self._transport,
            "input qos": "; ".join(f"{s.topic}: {s.describe}" for s in self._subs) or "none",
            "camera size": "x".join(str(v) for v in (self._camera_hw or ())[::-1]) or "none yet",
            "image conversion": conversion_backend(),
            "pending pairs": self._sync.pending if self._sync else 0,
        }
        if self._backend_note:
            extra["backend note"] = self._backend_note
        if "aux principal point offset px" in info:
            extra["aux principal point offset px"] = info["aux principal point offset px"]
        status = build_status(
            name=f"{self.get_fully_qualified_name()}: depth",
            hardware_id=self._last_frame_id, state=self._state,
            snap=self._stats.snapshot(now), issues=self._issues.recent(now, ISSUE_WINDOW_S),
            runner_info=info, aux_mode=self._aux_mode, extra=extra,
            conditions=dict(self._conditions),
        )
        self._diag_pub.publish(build_array(self.get_clock().now().to_msg(), status))


def _device(info: dict[str, Any]) -> str:
    """Where the runner computes, in words (execution providers / torch device / GPU)."""
    providers = info.get("providers")
    if providers:
        return ", ".join(str(p) for p in providers)
    return str(info.get("device") or info.get("gpu_name") or "cpu")


def _declare_error(spec: Any, value: object) -> str:
    """Why a parameter given on the command line or in a params file was refused."""
    if spec.float_range is not None or spec.int_range is not None:
        lo, hi = (spec.float_range or spec.int_range)[:2]
        kind = "a number" if spec.float_range is not None else "an integer"
        return f"{spec.name} must be {kind} in {lo:g}..{hi:g}, got {value!r}"
    kinds = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    return f"{spec.name} must be {kinds[type(spec.default)]}, got {value!r}"


def _load_runner(config: RunnerConfig) -> Any:
    """The node's runner set (``export.open_runner.CameraRunner``), loaded."""
    from iid_rdepth_ros.export.open_runner import CameraRunner

    cameras = CameraRunner(config)
    try:
        cameras.load()
    except BaseException:
        cameras.close()
        raise
    return cameras


def main(args: list[str] | None = None) -> None:
    """Console script ``iid_rdepth_node``."""
    from iid_rdepth_ros.ros.process_settings import tune_process

    tuned = tune_process()  # before the first image arrives
    rclpy.init(args=args)
    node = DepthNode()
    for line in tuned:
        node.get_logger().info(line)
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
