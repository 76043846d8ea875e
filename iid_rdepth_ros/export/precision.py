"""Precision lives in the ONNX graph: FP16 and INT8 (QDQ) graphs made from an FP32 export and
measured against it with ONNX Runtime.

TensorRT 11 builds strongly typed networks only (weak typing is deprecated since 10.12,
calibrators since 10.1; 11 has neither ``BuilderFlag.FP16``/``INT8`` nor ``int8_calibrator``),
so every layer runs in the type the graph gives it and the engine builder never chooses a
precision (``export/tensorrt_build.py``):

- **FP16**: ``onnxruntime.transformers.float16.convert_float_to_float16`` with
  ``keep_io_types=True`` (the graph keeps float32 inputs and outputs, casts at its edges),
  then the nodes are put back in topological order (the converter appends its input casts at
  the end, which ``onnx.checker`` and TensorRT's parser refuse).
- **INT8**: explicit quantization, ``onnxruntime.quantization.quantize_static`` over real
  calibration frames: QDQ format, int8 weights per output channel and int8 activations, both
  symmetric (TensorRT needs zero points of 0), MinMax ranges, Q/DQ only on the inputs of
  Conv/Gemm/MatMul, biases left in float (TensorRT parses no int32 DequantizeLinear).
  Where quantization breaks (shipped ``default``, 192x640, T=4, calibrated on 32 synth-street
  frames of seed 7, measured on 16 of seed 11 at 375x1242, ONNX Runtime;
  ``scripts/diagnostics/int8_sensitivity.py``): everything quantized costs AbsRel +0.073 mono
  / +0.004 stereo (depth moves 10 % / 1.6 % on average). The bin-centre predictor
  (``/model/bcp/``: a softmax over bin widths and the exp of the edges, so one error moves
  every bin) is the culprit: in float, +0.0013 / +0.0024. Keeping the depthwise convolutions
  in float as well brings the depth closer to FP32 (mean change 2.3 % -> 1.4 % mono,
  1.2 % -> 0.85 % stereo; p99 20 % -> 8.5 %, 13 % -> 7.5 %) at AbsRel +0.0020 / +0.0008:
  that is the recipe (``INT8_EXCLUDE`` and ``exclude_depthwise``).

NVIDIA ModelOpt (``modelopt.onnx.quantization`` / ``modelopt.onnx.autocast``) does the same
jobs, but its ONNX extra pulls ``onnxruntime-gpu`` and ``cupy`` and installs here only by hand;
ONNX Runtime's tools come with the ``onnxruntime`` this package already needs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from iid_rdepth_ros.artifacts.onnx_meta import get_metadata, load_graph, set_metadata

if TYPE_CHECKING:
    import onnx

PRECISIONS = ("fp32", "fp16", "int8")
#: node-name patterns INT8 keeps in float (see module docstring)
INT8_EXCLUDE = (r"^/model/bcp/",)
#: op types whose inputs INT8 quantizes
INT8_OPS = ("Conv", "Gemm", "MatMul")
#: INT8 accuracy target: AbsRel may grow by at most this much over FP32 (synth-street)
INT8_MAX_ABSREL_LOSS = 0.005
#: frames rendered for the accuracy measurement when no directory is given: synth-street seed
#: 11 (no training, validation, test or demo set uses it), one frame per street, KITTI size
EVAL_SEED = 11
EVAL_HW = (375, 1242)


@dataclass
class PrecisionOptions:
    """How to make a graph of ``precision`` from an FP32 export."""

    precision: str = "fp32"
    exclude: tuple[str, ...] = INT8_EXCLUDE  # INT8: node-name regexes kept in float
    exclude_depthwise: bool = True  # INT8: grouped convolutions stay in float
    op_types: tuple[str, ...] = INT8_OPS

    def validate(self) -> None:
        """ValueError for an unknown precision or a bad pattern."""
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, "
                             f"got {self.precision!r}")
        for pattern in self.exclude:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"bad node-name pattern {pattern!r}: {exc}") from None

    def recipe(self) -> dict[str, Any]:
        """What the sidecar records about how the graph was made."""
        if self.precision == "fp16":
            return {"tool": "onnxruntime.transformers.float16.convert_float_to_float16",
                    "keep_io_types": True, "topologically_sorted": True}
        if self.precision == "int8":
            return {"tool": "onnxruntime.quantization.quantize_static", "format": "QDQ",
                    "weights": "int8 per-channel symmetric", "activations": "int8 symmetric",
                    "calibration": "MinMax", "op_types": list(self.op_types),
                    "quantize_bias": False, "kept_in_float": list(self.exclude)
                    + (["depthwise Conv (group > 1)"] if self.exclude_depthwise else [])}
        return {"tool": "torch.onnx.export"}


# ------------------------------------------------------------------------------- graphs


def topological_sort(model: onnx.ModelProto) -> onnx.ModelProto:
    """Reorder ``model.graph.node`` so every node comes after the producers of its inputs
    (stable: already ordered graphs are unchanged). ValueError on a cycle or a dangling
    input."""
    graph = model.graph
    ready = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    nodes = list(graph.node)
    ordered = []
    pending = nodes
    while pending:
        rest = []
        for node in pending:
            if all(name in ready for name in node.input):
                ordered.append(node)
                ready.update(node.output)
            else:
                rest.append(node)
        if len(rest) == len(pending):
            missing = sorted({n for node in rest for n in node.input if n not in ready})
            raise ValueError(f"graph cannot be ordered: inputs {missing[:5]} are never produced")
        pending = rest
    del graph.node[:]
    graph.node.extend(ordered)
    return model


def graph_precision(model: onnx.ModelProto | str | Path) -> str:
    """``fp32`` | ``fp16`` | ``int8`` of a graph: its ``iid_rdepth.precision`` metadata, else
    what it holds (QuantizeLinear nodes: int8; float16 tensors: fp16)."""
    import onnx

    if not isinstance(model, onnx.ModelProto):
        model = load_graph(model, load_weights=False)
    props = {p.key: p.value for p in model.metadata_props}
    if "iid_rdepth.precision" in props:
        return str(json.loads(props["iid_rdepth.precision"]))
    if any(n.op_type == "QuantizeLinear" for n in model.graph.node):
        return "int8"
    if any(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer):
        return "fp16"
    return "fp32"


def _finish(model: onnx.ModelProto, source: onnx.ModelProto, precision: str,
            dst: Path) -> Path:
    """Copy the source's metadata (+ precision), check and save ``model`` to ``dst`` (only a
    checked graph appears there)."""
    import onnx

    from iid_rdepth_ros.artifacts.files import atomic_path

    del model.metadata_props[:]
    model.metadata_props.extend(source.metadata_props)
    set_metadata(model, {"precision": precision})
    model.producer_name = source.producer_name
    with atomic_path(dst) as tmp:
        onnx.save(model, str(tmp))
        onnx.checker.check_model(str(tmp), full_check=True)
    return dst


def convert_fp16(src: Path, dst: Path) -> Path:
    """FP16 graph with float32 inputs/outputs from the FP32 graph ``src``."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    source = onnx.load(str(src))
    model = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True)
    return _finish(topological_sort(model), source, "fp16", dst)


def int8_excluded_nodes(model: onnx.ModelProto, options: PrecisionOptions) -> list[str]:
    """Names of the nodes INT8 keeps in float (patterns and depthwise convolutions)."""
    out = []
    for node in model.graph.node:
        grouped = node.op_type == "Conv" and any(
            a.name == "group" and a.i > 1 for a in node.attribute)
        if (options.exclude_depthwise and grouped) or any(
                re.search(p, node.name) for p in options.exclude):
            out.append(node.name)
    return out


def quantize_int8(src: Path, dst: Path, feeds: Iterable[dict[str, np.ndarray]],
                  options: PrecisionOptions | None = None) -> dict[str, Any]:
    """INT8 QDQ graph from ``src`` calibrated on ``feeds`` (network inputs of real frames);
    returns counts for the report."""
    import tempfile

    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    options = options or PrecisionOptions("int8")
    source = onnx.load(str(src))
    excluded = int8_excluded_nodes(source, options)
    iterator = iter(feeds)

    class Reader(CalibrationDataReader):
        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(iterator, None)

    with tempfile.TemporaryDirectory(prefix="iid-rdepth-int8-") as tmp:
        out = Path(tmp) / "int8.onnx"
        quantize_static(
            str(src), str(out), Reader(), quant_format=QuantFormat.QDQ,
            op_types_to_quantize=list(options.op_types), per_channel=True, reduce_range=False,
            activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
            nodes_to_exclude=excluded, calibrate_method=CalibrationMethod.MinMax,
            extra_options={"ActivationSymmetric": True, "WeightSymmetric": True,
                           "QuantizeBias": False,
                           "OpTypesToExcludeOutputQuantization": list(options.op_types)})
        model = onnx.load(str(out))
    quantized = sum(n.op_type == "QuantizeLinear" for n in model.graph.node)
    if quantized == 0:
        raise ValueError(f"INT8 quantization of {src} quantized nothing (no calibration data?)")
    _finish(model, source, "int8", dst)
    return {"quantize_nodes": quantized, "kept_in_float": len(excluded)}


# ------------------------------------------------------------------------------- frames


def open_frames(path: str | Path) -> Any:
    """A data-set reader over ``path``: a synth-street directory (``meta.json``) or a folder
    data set (docs/training_on_your_data.md)."""
    from iid_rdepth_ros.datasets import open_dataset

    path = Path(path)
    if not path.is_dir():
        raise NotADirectoryError(f"frame directory {path} does not exist")
    if (path / "meta.json").is_file():
        return open_dataset("synth", str(path))
    return open_dataset("folder", "all", root=path)


def pick(reader: Sequence[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """``count`` items spread evenly over ``reader``."""
    n = len(reader)
    if n == 0 or count <= 0:
        return []
    indices = np.unique(np.linspace(0, n - 1, num=min(count, n)).round().astype(int))
    return [reader[int(i)] for i in indices]


def rendered_frames(count: int, seed: int = EVAL_SEED,
                    size: tuple[int, int] = EVAL_HW) -> list[dict[str, Any]]:
    """``count`` synth-street frames rendered in memory, one per street (``seed``)."""
    from iid_rdepth_ros.synth.street import SynthStreet

    street = SynthStreet(seed, size[0], size[1], sequence_length=4)
    items = []
    for i in range(count):
        f = street.frame(4 * i)
        items.append({"image": f["left"], "aux": f["right"], "depth": f["depth"],
                      "fx": f["fx"], "fy": f["fy"], "cx": f["cx"], "cy": f["cy"],
                      "baseline_m": f["baseline_m"]})
    return items


def network_feeds(item: dict[str, Any], meta: dict[str, Any]) -> dict[str, np.ndarray]:
    """Inputs of the graph with metadata ``meta`` for one frame, through the shared
    pre-processing (``runtime.processing.preprocess``)."""
    from iid_rdepth_ros.runtime.config import Intrinsics
    from iid_rdepth_ros.runtime.processing import preprocess

    stereo = meta["variant"] == "stereo"
    if stereo and item.get("aux") is None:
        raise ValueError("the stereo graph needs frames with a right view (aux)")
    prepared = preprocess(item["image"], (int(meta["height"]), int(meta["width"])),
                          _intrinsics(item, Intrinsics), item.get("aux") if stereo else None,
                          item.get("baseline_m") if stereo else None,
                          float(meta["canonical_focal"]))
    feeds = {"image": prepared.image}
    if stereo:
        assert prepared.aux is not None and prepared.fb is not None
        feeds.update(aux=prepared.aux, fb=prepared.fb)
    return feeds


def _intrinsics(item: dict[str, Any], cls: Any) -> Any:
    return cls(float(item["fx"]), float(item["fy"]), float(item["cx"]), float(item["cy"]))


# -------------------------------------------------------------------------- measurement


@dataclass
class AccuracyReport:
    """Depth of a lower-precision graph against the FP32 graph on the same frames."""

    frames: int
    rel_mean_vs_fp32: float  # mean over frames of the mean |d - d32| / d32
    rel_p99_vs_fp32: float  # worst frame's 99th percentile of the same
    abs_max_vs_fp32_m: float
    absrel_fp32: float | None  # against the frames' ground truth, where they have it
    absrel: float | None
    absrel_loss: float | None  # absrel - absrel_fp32
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"frames": self.frames, "rel_mean_vs_fp32": self.rel_mean_vs_fp32,
                "rel_p99_vs_fp32": self.rel_p99_vs_fp32,
                "abs_max_vs_fp32_m": self.abs_max_vs_fp32_m, "absrel_fp32": self.absrel_fp32,
                "absrel": self.absrel, "absrel_loss": self.absrel_loss, **self.extra}


class _GraphDepth:
    """One graph in ONNX Runtime (CPU) behind the shared pre/post-processing: depth in metres
    for a frame, as every runner gives it (a stereo graph needs no mono graph beside it)."""

    def __init__(self, path: Path, meta: dict[str, Any], threads: int | None) -> None:
        import onnxruntime as ort

        from iid_rdepth_ros.runtime.onnxruntime_runner import create_session, session_options

        self.meta = meta
        self.session = create_session(ort, path, session_options(ort, threads),
                                      ["CPUExecutionProvider"])

    def __call__(self, item: dict[str, Any]) -> np.ndarray:
        from iid_rdepth_ros.runtime.config import Intrinsics
        from iid_rdepth_ros.runtime.processing import postprocess, preprocess

        m = self.meta
        stereo = m["variant"] == "stereo"
        prepared = preprocess(item["image"], (int(m["height"]), int(m["width"])),
                              _intrinsics(item, Intrinsics), item.get("aux") if stereo else None,
                              item.get("baseline_m") if stereo else None,
                              float(m["canonical_focal"]))
        feeds = {"image": prepared.image}
        if stereo:
            feeds.update(aux=prepared.aux, fb=prepared.fb)
        depth = self.session.run(["depth"], feeds)[0]
        return postprocess(depth, prepared, float(m["canonical_focal"]), float(m["min_depth"]),
                           float(m["max_depth"]))


def measure_accuracy(reference: Path, candidate: Path, frames: Sequence[dict[str, Any]],
                     threads: int | None = None) -> AccuracyReport:
    """Run both graphs (one variant each, ONNX Runtime CPU) through the shared pre/post-
    processing on ``frames`` and compare their depth with each other and with the frames'
    ground truth (``evaluation.metrics`` protocol, no crop)."""
    from iid_rdepth_ros.evaluation.metrics import compute_metrics

    meta = get_metadata(reference)
    if not frames:
        raise ValueError("no frames to measure precision on")
    rel_mean, rel_p99, abs_max, ar_ref, ar_cand = [], [], 0.0, [], []
    lo, hi = float(meta["min_depth"]), float(meta["max_depth"])
    ref, cand = _GraphDepth(reference, meta, threads), _GraphDepth(candidate, meta, threads)
    for item in frames:
        d_ref, d_cand = ref(item), cand(item)
        ok = np.isfinite(d_ref) & np.isfinite(d_cand)
        diff = np.abs(d_cand[ok].astype(np.float64) - d_ref[ok])
        rel = diff / np.maximum(d_ref[ok], 1e-6)
        rel_mean.append(float(rel.mean()) if rel.size else float("nan"))
        rel_p99.append(float(np.percentile(rel, 99)) if rel.size else float("nan"))
        abs_max = max(abs_max, float(diff.max()) if diff.size else 0.0)
        gt = item.get("depth")
        if gt is not None and ((gt > lo) & (gt < hi) & ok).any():
            ar_ref.append(compute_metrics(np.nan_to_num(d_ref), gt, lo, hi,
                                          mask=ok)["abs_rel"])
            ar_cand.append(compute_metrics(np.nan_to_num(d_cand), gt, lo, hi,
                                           mask=ok)["abs_rel"])
    absrel_fp32 = float(np.mean(ar_ref)) if ar_ref else None
    absrel = float(np.mean(ar_cand)) if ar_cand else None
    loss = None if absrel is None or absrel_fp32 is None else absrel - absrel_fp32
    return AccuracyReport(len(frames), float(np.mean(rel_mean)), float(np.max(rel_p99)),
                          abs_max, absrel_fp32, absrel, loss)


# ------------------------------------------------------------------------------- export


def _check_int8_target(report: dict[str, Any]) -> bool:
    loss = report.get("absrel_loss")
    return loss is None or loss <= INT8_MAX_ABSREL_LOSS


def export_with_precision(
    model_ref: str, out_dir: Path, options: PrecisionOptions, *,
    height: int | None = None, width: int | None = None, steps: int | None = None,
    opset: int = 17, verify: bool = True, stereo_refine: bool = True,
    max_disparity: int | None = None, calib_dir: Path | None = None, calib_frames: int = 32,
    eval_dir: Path | None = None,
    eval_frames: int = 16, threads: int | None = None,
) -> Any:
    """Export ``model_ref`` and turn its graphs into ``options.precision``.

    FP32: the plain export into ``out_dir``. FP16 / INT8: the FP32 export goes to
    ``out_dir/fp32/`` (the reference, and what ``build-engine --compare`` measures against),
    the converted graphs to ``out_dir/{mono,stereo}.onnx`` with ``iid_rdepth.precision`` in
    their metadata, and ``out_dir/export.json`` records the recipe and each graph's accuracy
    against FP32 (ONNX Runtime, CPU) on ``eval_frames`` frames of ``eval_dir`` (default:
    synth-street frames rendered with seed 11). INT8 calibrates on ``calib_frames`` frames of
    ``calib_dir`` (required). Everything is made in a temporary folder inside ``out_dir`` and
    renamed into place when all of it succeeded (as ``onnx_export.export_model``). Returns
    ``onnx_export.ExportResult``.
    """
    from iid_rdepth_ros.artifacts.files import sha256_file
    from iid_rdepth_ros.export.onnx_export import (
        SIDECAR,
        ExportResult,
        _publish,
        export_checkpoint,
    )
    from iid_rdepth_ros.export.trt_compat import check_onnx

    options.validate()
    out_dir = Path(out_dir)
    if options.precision == "int8" and calib_dir is None:
        raise ValueError("--precision int8 needs --calib DIR (real frames to calibrate on: a "
                         "synth-street directory or a folder data set)")
    calib_items = pick(open_frames(calib_dir), calib_frames) if calib_dir is not None else []
    if calib_dir is not None and not calib_items:
        raise ValueError(f"no frames found in calibration directory {calib_dir}")
    if options.precision == "fp32":
        return export_checkpoint(model_ref, out_dir, height, width, steps, opset=opset,
                                 verify=verify, stereo_refine=stereo_refine,
                                 max_disparity=max_disparity)
    eval_items = pick(open_frames(eval_dir), eval_frames) if eval_dir is not None else \
        rendered_frames(eval_frames)
    if not eval_items:
        raise ValueError(f"no frames found in {eval_dir}")
    out_dir.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".export.", dir=out_dir))
    try:
        reference = export_checkpoint(model_ref, stage / "fp32", height, width, steps,
                                      opset=opset, verify=verify, stereo_refine=stereo_refine,
                                      max_disparity=max_disparity)
        compat, entries = {}, {}
        for variant, src in reference.graphs.items():
            dst = stage / f"{variant}.onnx"
            made: dict[str, Any] = {}
            if options.precision == "fp16":
                convert_fp16(src, dst)
            else:
                meta = get_metadata(src)
                made = quantize_int8(src, dst, (network_feeds(i, meta) for i in calib_items),
                                     options)
            compat[variant] = check_onnx(dst)
            report = measure_accuracy(src, dst, eval_items, threads).to_dict()
            if options.precision == "int8":
                report["meets_int8_target"] = _check_int8_target(report)
            entries[variant] = {**reference.sidecar["graphs"][variant], "file": dst.name,
                                "sha256": sha256_file(dst), "bytes": dst.stat().st_size,
                                "tensorrt10_compatible": compat[variant].ok,
                                "tensorrt10_issues": [str(i) for i in compat[variant].issues],
                                "accuracy_vs_fp32": report, **made}
        sidecar = {**reference.sidecar, "graphs": entries, "precision": options.precision,
                   "precision_recipe": options.recipe(), "reference_dir": "fp32",
                   "accuracy_frames": str(eval_dir) if eval_dir is not None else
                   f"synth-street rendered, seed {EVAL_SEED}, {EVAL_HW[0]}x{EVAL_HW[1]}, "
                   f"{len(eval_items)} frames",
                   "calibration_frames": None if calib_dir is None else
                   f"{calib_dir} ({len(calib_items)} frames)"}
        if options.precision == "int8":
            sidecar["int8_max_absrel_loss"] = INT8_MAX_ABSREL_LOSS
        (stage / SIDECAR).write_text(json.dumps(sidecar, indent=2) + "\n", "utf-8")
        variants = tuple(reference.graphs)
        shutil.rmtree(out_dir / "fp32", ignore_errors=True)  # the reference first, then the
        os.replace(stage / "fp32", out_dir / "fp32")  # graphs, the sidecar last
        _publish(stage, out_dir, variants)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    graphs = {v: out_dir / f"{v}.onnx" for v in variants}
    return ExportResult(out_dir, graphs, out_dir / SIDECAR, sidecar, compat)


def reference_graph(graph: Path) -> Path:
    """The FP32 graph a converted graph was made from (``fp32/`` beside it, see
    :func:`export_with_precision`); the graph itself when it is FP32 or has none."""
    candidate = graph.parent / "fp32" / graph.name
    if graph_precision(graph) != "fp32" and candidate.is_file():
        return candidate
    return graph
