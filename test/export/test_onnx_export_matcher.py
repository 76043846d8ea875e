"""Export of a geometry-first stereo model (``cfg.stereo``): the stereo graph outputs depth and
confidence, ONNX Runtime agrees with PyTorch on both, only TensorRT-parsable ops, and the
ONNX Runtime runner hands the confidence on at the camera's size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from eval_fixtures import make_matcher_checkpoint

from iid_rdepth_ros.artifacts.errors import RunnerError
from iid_rdepth_ros.export.onnx_export import export_checkpoint
from iid_rdepth_ros.export.open_runner import open_runner
from iid_rdepth_ros.runtime import RunnerConfig
from iid_rdepth_ros.runtime.base import Intrinsics

HEIGHT, WIDTH, STEPS = 64, 192, 1
SIZE = {"input_height": HEIGHT, "input_width": WIDTH, "diffusion_steps": STEPS, "num_threads": 1}
INTR = Intrinsics(fx=300.0, fy=300.0, cx=180.0, cy=60.0)  # of a 120x360 camera image


def _pair(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A random 120x360 image and its right view, 5 px to the left."""
    image = np.random.default_rng(seed).integers(0, 255, (120, 360, 3), dtype=np.uint8)
    return image, np.roll(image, -5, axis=1)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, object]:
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("matcher")
    make_matcher_checkpoint(root / "model")
    result = export_checkpoint(str(root / "model"), root / "onnx", HEIGHT, WIDTH, steps=STEPS)
    return root / "model", root / "onnx", result


def test_stereo_graph_outputs_depth_and_confidence(exported) -> None:
    _, out, result = exported
    graph = onnx.load(str(out / "stereo.onnx"))
    assert [o.name for o in graph.graph.output] == ["depth", "confidence"]
    assert [o.name for o in onnx.load(str(out / "mono.onnx")).graph.output] == ["depth"]
    entry = result.sidecar["graphs"]["stereo"]
    assert set(entry["outputs"]) == {"depth", "confidence"}
    assert entry["ort_vs_torch"]["ok"], entry["ort_vs_torch"]
    assert entry["ort_vs_torch"]["confidence_max_abs"] < 1e-4
    assert entry["tensorrt10_compatible"], entry["tensorrt10_issues"]
    assert result.sidecar["stereo_path"] == "matcher"
    assert result.sidecar["max_disparity"] == 48


def test_stereo_graph_refinement_inputs_are_padded_to_16_channels(exported) -> None:
    """ONNX Runtime blocks (NCHWc) only convolutions with 16k input channels: the matcher's
    refinement inputs export padded, by computed zeros (no constant of a feature map's size)."""
    _, out, _ = exported
    graph = onnx.load(str(out / "stereo.onnx")).graph
    weights = {i.name: list(i.dims) for i in graph.initializer}
    # ctx8, in4, in2 exported as functional convolutions: /matcher/Conv, Conv_1, Conv_2
    padded = [n for n in graph.node if n.op_type == "Conv" and
              n.name.startswith("/matcher/Conv")]
    assert len(padded) == 3
    assert all(weights[n.input[1]][1] % 16 == 0 for n in padded)
    maps = [[HEIGHT // s, WIDTH // s] for s in (1, 2, 4, 8)]
    assert not [name for name, dims in weights.items() if dims[-2:] in maps]


def test_runners_hand_on_confidence(exported) -> None:
    ckpt, out, _ = exported
    image, aux = _pair(0)
    results = {}
    for backend, path in (("onnxruntime", out / "mono.onnx"), ("torch", ckpt)):
        with open_runner(RunnerConfig(backend=backend, model_path=str(path), **SIZE)) as runner:
            results[backend] = runner.infer_full(image, aux=aux, intrinsics=INTR,
                                                 baseline_m=0.1)
            mono = runner.infer_full(image, intrinsics=INTR)
        assert mono.confidence is None
    a, b = results["torch"], results["onnxruntime"]
    assert a.confidence.shape == b.confidence.shape == image.shape[:2]
    ok = np.isfinite(a.confidence)
    assert ok.mean() > 0.9
    assert np.nanmin(a.confidence) >= 0 and np.nanmax(a.confidence) <= 1
    np.testing.assert_allclose(b.confidence[ok], a.confidence[ok], atol=1e-4)
    np.testing.assert_allclose(b.depth[ok], a.depth[ok], rtol=1e-3)


def test_max_disparity_at_run_time(exported, tmp_path: Path) -> None:
    # the search range is a run-time setting: torch builds the matcher with it, ONNX Runtime
    # exports (and caches) a graph with it, a given graph must match it
    ckpt, out, _ = exported
    image, aux = _pair(1)
    depth = {}
    for backend in ("torch", "onnxruntime"):
        for d in (None, 16):
            config = RunnerConfig(backend=backend, model_path=str(ckpt), max_disparity=d,
                                  cache_dir=str(tmp_path / "cache"), **SIZE)
            with open_runner(config) as runner:
                depth[backend, d] = runner.infer_full(image, aux=aux, intrinsics=INTR,
                                                      baseline_m=0.1).depth
    ok = np.isfinite(depth["torch", None]) & np.isfinite(depth["torch", 16])
    assert not np.allclose(depth["torch", None][ok], depth["torch", 16][ok], rtol=1e-3)
    for d in (None, 16):
        np.testing.assert_allclose(depth["onnxruntime", d][ok], depth["torch", d][ok],
                                   rtol=1e-3)
    graphs = sorted(p.name for p in (tmp_path / "cache").rglob("*") if p.is_dir())
    assert any(name.endswith("_D16") for name in graphs), graphs
    # a given graph exported with the checkpoint's 48 refuses another range
    config = RunnerConfig(backend="onnxruntime", model_path=str(out / "mono.onnx"),
                          max_disparity=16, **SIZE)
    with pytest.raises(RunnerError, match="exported with max_disparity 48, runner configured "
                                          "for 16 \\(export with --max-disparity 16\\)"):
        open_runner(config).load()


def test_max_disparity_needs_the_matcher(untrained_checkpoint: Path) -> None:
    config = RunnerConfig(backend="torch", model_path=str(untrained_checkpoint),
                          max_disparity=64, input_height=HEIGHT, input_width=WIDTH)
    with pytest.raises(RunnerError, match="max_disparity sets the search range of the "
                                          "geometry-first stereo matcher; this checkpoint has "
                                          "none"):
        open_runner(config).load()


@pytest.mark.parametrize("value", [0, 12, 2048, True, 16.0])
def test_max_disparity_values_are_checked(value: object) -> None:
    with pytest.raises(ValueError, match=r"max_disparity \(or None\) must be a multiple of 8 "
                                         r"in 8\.\.1024"):
        RunnerConfig(max_disparity=value).validate()
