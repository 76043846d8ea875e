"""TensorRT engine vs the FP32 graph (ONNX Runtime) on fixed frames: for an engine built from an
FP16 or INT8 graph the reference is the export's ``fp32/`` graph (``export.precision``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from iid_rdepth_ros.artifacts.onnx_meta import get_metadata
from iid_rdepth_ros.bench.compare import compare_runners
from iid_rdepth_ros.bench.frames import synth_frames
from iid_rdepth_ros.export.precision import reference_graph
from iid_rdepth_ros.runtime.config import RunnerConfig
from iid_rdepth_ros.runtime.onnxruntime_runner import OnnxRuntimeRunner


def compare_engine(engine_path: Path, onnx_path: Path, frames_dir: Path, count: int = 8
                   ) -> dict[str, Any]:
    """Depth differences of the engine against FP32 ONNX Runtime on ``count`` frames."""
    from iid_rdepth_ros.runtime.tensorrt_runner import TensorRTRunner

    meta = get_metadata(onnx_path)
    size = {"input_height": int(meta["height"]), "input_width": int(meta["width"]),
            "diffusion_steps": int(meta["steps"]), "min_depth": float(meta["min_depth"]),
            "max_depth": float(meta["max_depth"])}
    frames = synth_frames(frames_dir, count, stereo=meta["variant"] == "stereo")
    if not frames:
        raise ValueError(f"no frames in {frames_dir}")
    fp32 = reference_graph(Path(onnx_path))
    reference = OnnxRuntimeRunner(RunnerConfig(backend="onnxruntime", model_path=str(fp32),
                                               device="cpu", **size))
    candidate = TensorRTRunner(RunnerConfig(backend="tensorrt", engine_path=str(engine_path),
                                            **size))
    with reference, candidate:
        report = compare_runners(reference, candidate, frames)
    report.update(variant=meta["variant"], reference=str(fp32))
    return report
