"""Export a model to two fixed-shape ONNX graphs (mono, stereo) plus a JSON sidecar.

Legacy TorchScript exporter (``dynamo=False``; the dynamo exporter needs onnxscript, which is
not a dependency), opset 17, constant folding (torch's, then ONNX Runtime's basic level, see
``fold_constants``), the T diffusion steps unrolled. Graph I/O (docs/interfaces.md):
``image (1,3,h,w)`` float32 RGB in [0, 1]; stereo adds ``aux (1,3,h,w)`` and ``fb (1,)`` =
canonical_focal * baseline; output ``depth (1,1,h,w)`` metres at the canonical focal. Each
graph carries its metadata (``onnx_meta``) and is checked with ``onnx.checker`` and against
TensorRT 10's ONNX op support.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from iid_rdepth_ros.artifacts.files import sha256_file
from iid_rdepth_ros.artifacts.onnx_meta import set_metadata
from iid_rdepth_ros.export.trt_compat import CompatReport, check_onnx

if TYPE_CHECKING:
    import onnx
    import torch

OPSET = 17
SIDECAR = "export.json"
SIDECAR_FORMAT = "iid-rdepth-onnx/1"
#: revision of the graphs this code exports from the same weights; bumped whenever that
#: changes (2: the stereo matcher's aggregation as 3D convolutions; 3: its refinements' input
#: convolutions padded to 16 channels), so the export cache
#: (``export.onnx_cache``) does not serve a graph an older version wrote
GRAPH_REVISION = 3
VARIANTS = ("mono", "stereo")
INPUT_NAMES = {"mono": ["image"], "stereo": ["image", "aux", "fb"]}
PROTOBUF_LIMIT = 2**31 - 1
#: ONNX Runtime vs PyTorch agreement required after export (relative, on depth).
PARITY_RTOL = 1e-3
#: the stereo graph's refinement (``model.stereo_refine``) thresholds its matches, and a near
#: tie between two candidates may go the other way in ONNX Runtime: that graph passes when at
#: most this share of its pixels lies beyond PARITY_RTOL
PARITY_REFINE_SHARE = 0.01


@dataclass
class ExportResult:
    """Paths and reports of one export."""

    out_dir: Path
    graphs: dict[str, Path]
    sidecar_path: Path
    sidecar: dict[str, Any]
    compat: dict[str, CompatReport] = field(default_factory=dict)


def _graph_module(model: torch.nn.Module, variant: str, steps: int) -> torch.nn.Module:
    import torch

    class MonoGraph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, image: torch.Tensor) -> torch.Tensor:
            return self.model(image, aux=None, fb=None, steps=steps)

    class StereoGraph(MonoGraph):
        def forward(self, image: torch.Tensor, aux: torch.Tensor,  # type: ignore[override]
                    fb: torch.Tensor) -> torch.Tensor:
            return self.model(image, aux=aux, fb=fb, steps=steps)

    class MatcherGraph(MonoGraph):
        def forward(self, image: torch.Tensor, aux: torch.Tensor,  # type: ignore[override]
                    fb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return self.model.forward_outputs(image, aux=aux, fb=fb, steps=steps)

    if variant == "stereo" and has_confidence(model):
        return MatcherGraph().eval()

    return (MonoGraph if variant == "mono" else StereoGraph)().eval()


def has_confidence(model: torch.nn.Module) -> bool:
    """Whether the model's stereo graph also outputs ``confidence`` (the stereo matcher)."""
    return getattr(model, "matcher", None) is not None


def output_names(model: torch.nn.Module, variant: str) -> list[str]:
    """Graph outputs of one variant: ``depth``, plus ``confidence`` for a matcher's stereo."""
    return ["depth", "confidence"] if variant == "stereo" and has_confidence(model) \
        else ["depth"]


def example_inputs(variant: str, height: int, width: int, fb: float = 200.0
                   ) -> tuple[torch.Tensor, ...]:
    """Deterministic inputs for tracing and parity checks."""
    import torch

    generator = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, height, width, generator=generator)
    if variant == "mono":
        return (image,)
    aux = torch.roll(image, shifts=-8, dims=-1)
    return (image, aux, torch.tensor([fb], dtype=torch.float32))


def export_graph(model: torch.nn.Module, variant: str, path: Path, height: int, width: int,
                 steps: int, meta: dict[str, Any], opset: int = OPSET) -> Path:
    """Trace one variant to ``path``, add metadata, run ``onnx.checker``; returns ``path``."""
    import onnx
    import torch

    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    module = _graph_module(model, variant, steps)
    args = example_inputs(variant, height, width)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=UserWarning)  # constant-folding notes
        torch.onnx.export(
            module, args, str(path), dynamo=False, opset_version=opset,
            input_names=INPUT_NAMES[variant], output_names=output_names(model, variant),
            do_constant_folding=True, export_params=True, dynamic_axes=None)
    graph = fold_constants(path)
    set_metadata(graph, {**meta, "variant": variant})
    graph.producer_name = "iid_rdepth_ros"
    external = graph.ByteSize() > PROTOBUF_LIMIT
    for stale in path.parent.glob(f"{path.name}.data"):
        stale.unlink()
    onnx.save(graph, str(path), save_as_external_data=external,
              location=f"{path.name}.data" if external else None)
    onnx.checker.check_model(str(path), full_check=True)
    return path


def fold_constants(path: Path) -> onnx.ModelProto:
    """The graph at ``path`` after ONNX Runtime's *basic* optimisations (standard ops only).

    Basic level = constant folding (with fixed shapes this folds every Shape/Gather chain and
    the timestep embeddings of the unrolled loop), redundant-node elimination and simple
    fusions into standard ONNX ops. The result must use only the default domain, or the
    unfolded graph is kept.
    """
    import onnx
    import onnxruntime as ort

    folded_path = path.with_name(path.stem + ".folded.onnx")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(folded_path)
    options.log_severity_level = 3
    try:
        ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        folded = onnx.load(str(folded_path))
    finally:
        folded_path.unlink(missing_ok=True)
    if any(node.domain not in ("", "ai.onnx") for node in folded.graph.node):
        return onnx.load(str(path))
    used = [o for o in folded.opset_import if o.domain in ("", "ai.onnx")]
    del folded.opset_import[:]
    folded.opset_import.extend(used)
    return folded


def ort_parity(model: torch.nn.Module, path: Path, variant: str, height: int, width: int,
               steps: int) -> dict[str, float]:
    """Max absolute / relative depth difference between PyTorch and ONNX Runtime (CPU) and
    the share of pixels beyond PARITY_RTOL (plus the confidence's max absolute difference
    where the graph has one)."""
    import onnxruntime as ort
    import torch

    args = example_inputs(variant, height, width)
    kwargs = {"aux": args[1] if len(args) > 1 else None,
              "fb": args[2] if len(args) > 1 else None, "steps": steps}
    with torch.inference_mode():
        if hasattr(model, "forward_outputs"):
            depth, confidence = model.forward_outputs(args[0], **kwargs)
        else:
            depth, confidence = model(args[0], **kwargs), None
    reference = depth.numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {name: a.numpy() for name, a in zip(INPUT_NAMES[variant], args, strict=True)}
    names = [o.name for o in session.get_outputs()]
    outs = dict(zip(names, session.run(names, feeds), strict=True))
    diff = np.abs(outs["depth"].astype(np.float64) - reference)
    rel = diff / np.maximum(np.abs(reference), 1e-6)
    result = {"max_abs": float(diff.max()), "max_rel": float(rel.max()),
              "share_above_rtol": float((rel > PARITY_RTOL).mean())}
    if confidence is not None and "confidence" in outs:
        result["confidence_max_abs"] = float(np.abs(outs["confidence"] - confidence.numpy()).max())
    return result


def parity_ok(parity: dict[str, float], refined: bool) -> bool:
    """Whether an ``ort_parity`` result passes: every pixel within PARITY_RTOL, or for a
    graph with the thresholded stereo refinement, all but PARITY_REFINE_SHARE of them."""
    if refined:
        return parity["share_above_rtol"] <= PARITY_REFINE_SHARE
    return parity["max_rel"] <= PARITY_RTOL


def export_model(model: torch.nn.Module, model_config: Any, out_dir: Path, height: int,
                 width: int, steps: int | None = None, source: str = "", opset: int = OPSET,
                 variants: tuple[str, ...] = VARIANTS, verify: bool = True,
                 extra: dict[str, Any] | None = None) -> ExportResult:
    """Export ``model`` (with its ``ModelConfig``) into ``out_dir``; see module docstring.

    A model without AV-LFE (the baseline variant) gets only the mono graph. Everything is
    written into a temporary folder inside ``out_dir`` first and renamed into place once the
    whole export has succeeded (the sidecar last): a failed or interrupted export leaves
    ``out_dir`` as it was.
    """
    import onnx
    import onnxruntime
    import torch

    from iid_rdepth_ros.model.config import check_input_size

    check_input_size(height, width, "export")
    if opset < 17:
        raise ValueError(f"opset must be >= 17, got {opset}")
    steps = model_config.diffusion.resolve_steps(steps)
    model = model.for_export() if hasattr(model, "for_export") else model.eval()
    if not getattr(model, "has_stereo", True):  # no stereo path (baseline): stereo == mono
        variants = tuple(v for v in variants if v != "stereo")
    meta = {"model": source, "preset": model_config.name, "steps": steps,
            "canonical_focal": float(model_config.canonical_focal),
            "min_depth": float(model_config.min_depth),
            "max_depth": float(model_config.max_depth), "height": height, "width": width,
            "opset": opset, "checkpoint_sha256": (extra or {}).get("checkpoint_sha256"),
            "stereo_refine": getattr(model, "refiner", None) is not None,
            "stereo_path": "matcher" if has_confidence(model) else "avlfe",
            "max_disparity": (int(model_config.stereo.max_disparity) if has_confidence(model)
                              else None)}
    out_dir.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".export.", dir=out_dir))
    try:
        entries, compat = _export_into(stage, model, meta, variants, height, width, steps,
                                       opset, verify)
        sidecar = {
            "format": SIDECAR_FORMAT, "graph_revision": GRAPH_REVISION, **meta,
            "graphs": entries,
            "exporter": "torch.onnx (TorchScript, dynamo=False)",
            "folding": "torch do_constant_folding + onnxruntime basic optimisations",
            "torch": torch.__version__,
            "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__,
            "parity_rtol": PARITY_RTOL, "parity_refine_share": PARITY_REFINE_SHARE,
            **(extra or {}),
        }
        (stage / SIDECAR).write_text(json.dumps(sidecar, indent=2) + "\n", "utf-8")
        _publish(stage, out_dir, variants)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    graphs = {v: out_dir / f"{v}.onnx" for v in variants}
    return ExportResult(out_dir, graphs, out_dir / SIDECAR, sidecar, compat)


def _publish(stage: Path, out_dir: Path, variants: tuple[str, ...]) -> None:
    """Rename the staged graphs, then the sidecar, into ``out_dir``; remove what an earlier
    export left that this one replaces (a graph must not pose as a partner of the other)."""
    for variant in VARIANTS:
        name = f"{variant}.onnx"
        if (stage / f"{name}.data").exists():
            os.replace(stage / f"{name}.data", out_dir / f"{name}.data")
        else:
            (out_dir / f"{name}.data").unlink(missing_ok=True)
        if variant in variants:
            os.replace(stage / name, out_dir / name)
        else:
            (out_dir / name).unlink(missing_ok=True)
    os.replace(stage / SIDECAR, out_dir / SIDECAR)


def _export_into(stage: Path, model: torch.nn.Module, meta: dict[str, Any],
                 variants: tuple[str, ...], height: int, width: int, steps: int, opset: int,
                 verify: bool) -> tuple[dict[str, Any], dict[str, CompatReport]]:
    """Export, check and verify each variant into ``stage``; sidecar entries and reports."""
    compat, entries = {}, {}
    for variant in variants:
        start = time.perf_counter()
        path = export_graph(model, variant, stage / f"{variant}.onnx", height, width, steps,
                            meta, opset)
        compat[variant] = check_onnx(path)
        entry: dict[str, Any] = {
            "file": path.name, "sha256": sha256_file(path), "bytes": path.stat().st_size,
            "inputs": {n: _input_shape(n, height, width) for n in INPUT_NAMES[variant]},
            "outputs": {n: [1, 1, height, width] for n in output_names(model, variant)},
            "export_s": round(time.perf_counter() - start, 2),
            "tensorrt10_compatible": compat[variant].ok,
            "tensorrt10_issues": [str(i) for i in compat[variant].issues],
        }
        if verify:
            parity = ort_parity(model, path, variant, height, width, steps)
            refined = variant == "stereo" and meta["stereo_refine"]
            entry["ort_vs_torch"] = {**parity, "refined": refined,
                                     "ok": parity_ok(parity, refined)}
        entries[variant] = entry
    return entries, compat


def _input_shape(name: str, height: int, width: int) -> list[int]:
    return [1] if name == "fb" else [1, 3, height, width]


def export_checkpoint(model_ref: str, out_dir: Path, height: int | None = None,
                      width: int | None = None, steps: int | None = None, opset: int = OPSET,
                      verify: bool = True, stereo_refine: bool = True,
                      max_disparity: int | None = None) -> ExportResult:
    """Load a checkpoint (name or path) and export it; size defaults to the preset's.
    ``stereo_refine=False`` leaves AV-LFE's stereo refinement out of the stereo graph;
    ``max_disparity`` sets the geometry-first matcher's search range (None: the checkpoint's)."""
    from iid_rdepth_ros.model.checkpoint import load_model

    model, model_config, info = load_model(model_ref, steps=steps, stereo_refine=stereo_refine,
                                           max_disparity=max_disparity)
    height = height or model_config.input_height
    width = width or model_config.input_width
    return export_model(model, model_config, Path(out_dir), height, width,
                        source=model_ref, opset=opset, verify=verify, extra=info)
