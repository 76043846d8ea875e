"""TensorRT 10/11 engines end to end (build, sidecar, reuse/refusal, runner, FP16 and INT8
graphs vs FP32).

Needs ``tensorrt`` (10.x or 11.x), ``pycuda`` and an NVIDIA GPU; skipped elsewhere. TensorRT
cannot be installed on the development/CI machines (DESIGN.md section 7): there the API names
are checked against the real bindings (test_tensorrt_build_api.py) and the sidecar rules in
test/artifacts/test_engine_sidecar.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

trt = pytest.importorskip("tensorrt", reason="TensorRT is not installed (not installable here: "
                                             "DESIGN.md section 7)")
pytest.importorskip("pycuda.driver", reason="pycuda is not installed")

import torch  # noqa: E402

from iid_rdepth_ros.artifacts.engine_sidecar import read_sidecar  # noqa: E402
from iid_rdepth_ros.bench.compare import compare_runners  # noqa: E402
from iid_rdepth_ros.bench.frames import procedural_frame  # noqa: E402
from iid_rdepth_ros.export.onnx_export import export_checkpoint  # noqa: E402
from iid_rdepth_ros.export.open_runner import open_runner  # noqa: E402
from iid_rdepth_ros.export.precision import convert_fp16, quantize_int8  # noqa: E402
from iid_rdepth_ros.export.tensorrt_build import (  # noqa: E402
    STRONG_TYPING_FROM,
    BuildOptions,
    build_engine,
    version_tuple,
)
from iid_rdepth_ros.model import build_model, get_preset  # noqa: E402
from iid_rdepth_ros.model.checkpoint import save_checkpoint  # noqa: E402
from iid_rdepth_ros.runtime import RunnerConfig, RunnerError  # noqa: E402

SIZE = {"input_height": 64, "input_width": 192, "diffusion_steps": 2}


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("trt")
    torch.manual_seed(0)
    model = build_model(get_preset("lite0-96x320"))
    with torch.no_grad():
        for param in model.trainable_parameters():
            param.add_(0.02 * torch.randn_like(param))
    save_checkpoint(root / "net", model)
    export_checkpoint(str(root / "net"), root / "onnx", 64, 192, steps=2)
    return root / "onnx"


def test_build_run_reuse_and_refuse(export_dir: Path, tmp_path: Path) -> None:
    engines = tmp_path / "engines"
    for variant in ("mono", "stereo"):
        result = build_engine(export_dir / f"{variant}.onnx", engines, BuildOptions())
        assert result.built and result.engine_path.is_file()
        side = read_sidecar(result.engine_path)
        assert side["variant"] == variant and side["precision"] == "fp32"
        assert side["tensorrt_version"] == trt.__version__ and side["steps"] == 2
        assert side["strongly_typed"] == (version_tuple(trt.__version__) >= STRONG_TYPING_FROM)
    caches = list(engines.glob("timing-*.cache"))
    assert len(caches) == 1 and caches[0].stat().st_size > 0
    again = build_engine(export_dir / "mono.onnx", engines, BuildOptions())
    assert not again.built  # matching sidecar: reused
    frame = procedural_frame(120, 360)
    ort = open_runner(RunnerConfig(backend="onnxruntime",
                                     model_path=str(export_dir / "mono.onnx"), **SIZE))
    engine = open_runner(RunnerConfig(backend="auto",
                                        engine_path=str(engines / "mono.fp32.engine"), **SIZE))
    assert engine.backend == "tensorrt"
    with ort, engine:
        assert engine.has_stereo
        report = compare_runners(ort, engine, [frame])
    assert report["worst"]["rel_p99"] < 1e-3
    wrong = RunnerConfig(backend="tensorrt", engine_path=str(engines / "mono.fp32.engine"),
                         **{**SIZE, "diffusion_steps": 4})
    with pytest.raises(RunnerError, match="diffusion steps"):
        open_runner(wrong).load()


@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_precision_graph_engine_close_to_fp32(export_dir: Path, tmp_path: Path,
                                              precision: str) -> None:
    graph = tmp_path / precision / "mono.onnx"
    frame = procedural_frame(120, 360, stereo=False)
    if precision == "fp16":
        convert_fp16(export_dir / "mono.onnx", graph)
    else:
        from iid_rdepth_ros.artifacts.onnx_meta import get_metadata
        from iid_rdepth_ros.export.precision import network_feeds

        meta = get_metadata(export_dir / "mono.onnx")
        item = {"image": frame.image, "fx": frame.intrinsics.fx, "fy": frame.intrinsics.fy,
                "cx": frame.intrinsics.cx, "cy": frame.intrinsics.cy}
        quantize_int8(export_dir / "mono.onnx", graph, [network_feeds(item, meta)] * 4)
    engines = tmp_path / "engines"
    result = build_engine(graph, engines, BuildOptions())
    assert result.engine_path.name == f"mono.{precision}.engine"
    assert read_sidecar(result.engine_path)["precision"] == precision
    ort = open_runner(RunnerConfig(backend="onnxruntime",
                                   model_path=str(export_dir / "mono.onnx"), **SIZE))
    engine = open_runner(RunnerConfig(backend="tensorrt", engine_path=str(result.engine_path),
                                      **SIZE))
    with ort, engine:
        report = compare_runners(ort, engine, [frame])
    assert report["mean"]["rel_mean"] < (0.02 if precision == "fp16" else 0.1)
    assert np.isfinite(report["worst"]["abs_max"])
