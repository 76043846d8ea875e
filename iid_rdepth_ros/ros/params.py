"""The node's parameters: one table (name, default, range, description, run-time changeable).

``config/iid_rdepth.yaml`` and ``config/stereo.yaml`` list exactly these names (tested). The
``dynamic`` ones take effect on the next frame without a restart; the others are read when the
node is configured and may only be changed while it is unconfigured.
"""

from __future__ import annotations

from dataclasses import dataclass

from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    ParameterType,
)

BACKENDS = ("auto", "tensorrt", "onnxruntime", "torch")
AUX_MODES = ("auto", "off", "required")
OUTPUT_RESOLUTIONS = ("input", "network")
INPUT_QOS = ("auto", "sensor_data", "reliable")
OUTPUT_QOS = ("reliable", "sensor_data")
IMAGE_TRANSPORTS = ("raw", "compressed")
POINTS_DISTORTION = ("model", "rectified", "skip")

#: Depth range the runner is configured with; min_depth/max_depth narrow it at run time.
DEPTH_LIMITS = (1e-3, 1000.0)
#: with min_depth 0 (the model's), the colormap's bright end is at least max/COLOR_RATIO: an
#: inverse-depth scale from 1 mm would leave the colours to the first metres
COLOR_RATIO = 160.0


@dataclass(frozen=True)
class ParamSpec:
    """One node parameter."""

    name: str
    default: bool | int | float | str
    description: str
    dynamic: bool = False
    choices: tuple[str, ...] = ()
    int_range: tuple[int, int, int] | None = None  # (from, to, step)
    float_range: tuple[float, float] | None = None

    @property
    def off_is_bool(self) -> bool:
        """A choice ``off`` reaches the node as boolean False when written unquoted
        (``-p aux_mode:=off`` is YAML); such parameters accept that and mean ``off``."""
        return "off" in self.choices

    def coerce(self, value: object) -> object:
        """The value the node uses (``False`` -> ``"off"`` where :attr:`off_is_bool`)."""
        if self.off_is_bool and value is False:
            return "off"
        return value

    @property
    def type(self) -> int:
        """rcl_interfaces ParameterType of the default."""
        if isinstance(self.default, bool):
            return ParameterType.PARAMETER_BOOL
        if isinstance(self.default, int):
            return ParameterType.PARAMETER_INTEGER
        if isinstance(self.default, float):
            return ParameterType.PARAMETER_DOUBLE
        return ParameterType.PARAMETER_STRING

    def descriptor(self) -> ParameterDescriptor:
        """ParameterDescriptor with the range and, for fixed parameters, a note saying so."""
        note = "" if self.dynamic else " (read-only after configure)"
        constraints = f"one of: {', '.join(self.choices)}" if self.choices else ""
        desc = ParameterDescriptor(
            name=self.name, type=self.type, description=self.description + note,
            additional_constraints=constraints, dynamic_typing=self.off_is_bool,
        )
        if self.int_range is not None:
            lo, hi, step = self.int_range
            desc.integer_range = [IntegerRange(from_value=lo, to_value=hi, step=step)]
        if self.float_range is not None:
            lo, hi = self.float_range
            desc.floating_point_range = [FloatingPointRange(from_value=lo, to_value=hi, step=0.0)]
        return desc


PARAMS: tuple[ParamSpec, ...] = (
    ParamSpec("autostart", True, "configure and activate the lifecycle node on start-up"),
    ParamSpec("backend", "auto", "inference backend (auto picks tensorrt, then onnxruntime "
              "with an .onnx model, then torch)", choices=BACKENDS),
    ParamSpec("model_path", "default", "checkpoint name (default, baseline) or path to a "
              ".safetensors checkpoint or .onnx graph"),
    ParamSpec("engine_path", "", "TensorRT engine file (tensorrt backend); empty = none"),
    ParamSpec("input_height", 192, "network input pixel budget, with input_width: the network "
              "input keeps the camera's aspect ratio (multiples of 32, at most input_height x "
              "input_width pixels); a camera of this aspect gets exactly this size. An .onnx "
              "graph or engine has its own fixed size", int_range=(32, 2048, 32)),
    ParamSpec("input_width", 640, "network input pixel budget, with input_height (see there)",
              int_range=(32, 4096, 32)),
    ParamSpec("diffusion_steps", 0, "diffusion denoising steps T; 0 = the checkpoint's default",
              int_range=(0, 64, 1)),
    ParamSpec("stereo_refine", True, "run AV-LFE's full-resolution stereo refinement on stereo "
              "frames (checkpoints that have it; more accurate, ~60 % more stereo latency on "
              "CPU)"),
    ParamSpec("max_disparity", 0, "search range 0..max_disparity (network pixels, a multiple "
              "of 8) of the geometry-first stereo matcher; 0 = the checkpoint's. A checkpoint "
              "runs with it; an .onnx graph or engine must have been exported with it "
              "(iid-rdepth export --max-disparity)", int_range=(0, 1024, 8)),
    ParamSpec("aux_mode", "auto", "auxiliary (right) view: auto = use it when it arrives, off = "
              "never subscribe, required = drop frames without it", choices=AUX_MODES),
    ParamSpec("sync_tolerance", 0.01, "largest stamp difference (s) between a main and an aux "
              "frame that still makes a stereo pair; while the aux topic has publishers a main "
              "frame waits up to this long (+ 50 ms for transport) for its partner",
              float_range=(0.0, 1.0)),
    ParamSpec("max_baseline", 3.0, "largest stereo baseline (m) taken from the aux camera_info "
              "(P[3] = -fx * B); a larger one is refused (mono) as a broken calibration",
              float_range=(0.01, 100.0)),
    ParamSpec("min_depth", 0.0, "nearest valid depth (m); nearer is NaN; bright end of the "
              "colormap; 0 = the model's range (its card's min_depth at this camera's focal; "
              "the colormap starts at max_depth/160 or further)", dynamic=True,
              float_range=(0.0, DEPTH_LIMITS[1])),
    ParamSpec("max_depth", 0.0, "farthest valid depth (m); farther is NaN; dark end of the "
              "colormap; 0 = the model's range (its card's max_depth at this camera's focal)",
              dynamic=True, float_range=(0.0, DEPTH_LIMITS[1])),
    ParamSpec("output_resolution", "input", "depth image size: input = the camera's, network = "
              "the camera image's size inside the network input", choices=OUTPUT_RESOLUTIONS),
    ParamSpec("min_confidence", 0.0, "depth pixels whose stereo confidence (depth/confidence) "
              "is below this are NaN; 0 keeps all (models without a confidence: no effect)",
              dynamic=True, float_range=(0.0, 1.0)),
    ParamSpec("publish_points", True, "publish the point cloud on points (built only while it "
              "has subscribers)", dynamic=True),
    ParamSpec("points_stride", 1, "keep every n-th row and column of the depth in the cloud",
              dynamic=True, int_range=(1, 64, 1)),
    ParamSpec("points_color", True, "add the camera colour (rgb field) to the cloud",
              dynamic=True),
    ParamSpec("points_distortion", "model", "the cloud of a camera_info with non-zero D: model "
              "= each pixel's ray through K and D (plumb_bob, rational_polynomial, "
              "equidistant; another model: no cloud, a diagnostic says why); rectified = the "
              "image is already rectified (image_proc's image_rect with the raw camera's "
              "camera_info passed on): rays through P, D ignored; skip = no cloud. Zero D: "
              "rays through P whatever this says", dynamic=True, choices=POINTS_DISTORTION),
    ParamSpec("publish_colorized", True, "publish depth/colorized (bgr8; built only while it has "
              "subscribers)", dynamic=True),
    ParamSpec("colormap", "magma", "colormap of depth/colorized (matplotlib name; fixed range "
              "min_depth..max_depth over inverse depth)", dynamic=True),
    ParamSpec("input_qos", "auto", "QoS of the image and camera_info subscriptions: auto = the "
              "reliability the publishers offer (reliable when all offer it, else best effort; "
              "re-evaluated as publishers come and go), sensor_data (best effort) or reliable",
              choices=INPUT_QOS),
    ParamSpec("image_transport", "raw", "raw = sensor_msgs/Image on image, aux/image; "
              "compressed = sensor_msgs/CompressedImage (jpeg/png) on image/compressed, "
              "aux/image/compressed",
              choices=IMAGE_TRANSPORTS),
    ParamSpec("output_qos", "reliable", "QoS of the depth, colorized and points publishers",
              choices=OUTPUT_QOS),
)

SPECS: dict[str, ParamSpec] = {p.name: p for p in PARAMS}
DYNAMIC: frozenset[str] = frozenset(p.name for p in PARAMS if p.dynamic)


def as_declared_type(name: str, value: object) -> object:
    """``value`` as the type ``name`` is declared with where that loses nothing: an integer
    for a floating-point parameter (``-p max_depth:=20``) becomes a float."""
    spec = SPECS.get(name)
    if (spec is not None and isinstance(spec.default, float) and isinstance(value, int)
            and not isinstance(value, bool)):
        return float(value)
    return value


def check_value(name: str, value: object, current: dict[str, object]) -> str | None:
    """Why ``name = value`` is not acceptable given the other ``current`` values, or None.

    Ranges are enforced by rclpy through the descriptors; this checks choices, the colormap
    name and ``min_depth < max_depth``.
    """
    spec = SPECS.get(name)
    if spec is None:
        return None
    value = spec.coerce(value)
    if spec.choices and value not in spec.choices:
        return f"{name} must be one of {', '.join(spec.choices)}, got {value!r}"
    if spec.off_is_bool and not isinstance(value, str):
        return f"{name} must be a string, got {value!r}"
    if name in ("min_depth", "max_depth"):
        lo = value if name == "min_depth" else current["min_depth"]
        hi = value if name == "max_depth" else current["max_depth"]
        if lo > 0 and hi > 0 and not lo < hi:  # type: ignore[operator]
            return f"min_depth must be < max_depth, got min_depth={lo}, max_depth={hi}"
    if name == "colormap":
        from iid_rdepth_ros.geometry.colormap import colormap_lut

        try:
            colormap_lut(str(value))
        except (ValueError, ImportError) as exc:
            return str(exc)
    return None


def depth_bounds(min_param: float, max_param: float, model_range: tuple[float, float] | None,
                 scale: float) -> tuple[float, float, float]:
    """(nearest valid, farthest valid, colormap's bright end) in metres: the parameters where
    they are > 0, else the model's range (at the canonical focal) times ``scale`` =
    ``f_net / canonical_focal`` of this camera."""
    lo_m, hi_m = model_range if model_range is not None else DEPTH_LIMITS
    if model_range is not None:
        lo_m, hi_m = lo_m * scale, hi_m * scale
    lo = min_param if min_param > 0 else lo_m
    hi = max_param if max_param > 0 else hi_m
    return lo, hi, (lo if min_param > 0 else max(lo, hi / COLOR_RATIO))
