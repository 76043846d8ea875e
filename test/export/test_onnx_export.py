"""ONNX export: files, sidecar, checker, fixed named I/O, TensorRT op support, ORT == PyTorch.

Models are untrained (``build_model`` + small random perturbation of the trainable parts so
that diffusion, invertible blocks and AV-LFE are not identities) and saved with
``save_checkpoint``; the test frames are synth-street frames generated here.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from iid_rdepth_ros.artifacts.files import sha256_file
from iid_rdepth_ros.artifacts.onnx_meta import get_metadata
from iid_rdepth_ros.bench.frames import synth_frames
from iid_rdepth_ros.export.onnx_export import PARITY_REFINE_SHARE, export_checkpoint
from iid_rdepth_ros.export.open_runner import open_runner
from iid_rdepth_ros.export.trt_compat import check_onnx, load_op_table
from iid_rdepth_ros.model import build_model, get_preset
from iid_rdepth_ros.model.checkpoint import save_checkpoint
from iid_rdepth_ros.runtime import RunnerConfig

PRESET = "lite0-96x320"
STEPS = 2
HEIGHT, WIDTH = 64, 192  # network size of the exported graphs (small: fast tests)
#: Stated tolerance: ONNX Runtime depth vs PyTorch depth, relative, per pixel (float32 CPU).
RTOL = 1e-4
#: stereo graph (thresholded refinement, see the test): share of pixels allowed beyond
#: REFINE_PIXEL_RTOL
REFINE_PIXEL_RTOL, REFINE_FLIP_SHARE = 1e-2, 0.01


def make_checkpoint(stem: Path, variant: str = "full", seed: int = 0) -> Path:
    """Untrained checkpoint whose stage-2 parts are perturbed away from the identity."""
    torch.manual_seed(seed)
    model = build_model(get_preset(PRESET), variant=variant)
    with torch.no_grad():
        for param in model.trainable_parameters():
            param.add_(0.02 * torch.randn_like(param))
    save_checkpoint(stem, model, {"note": "untrained test checkpoint"})
    return stem


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    torch.set_num_threads(1)  # the cores are shared: one thread avoids oversubscription
    root = tmp_path_factory.mktemp("export")
    ckpt = make_checkpoint(root / "ckpt" / "model")
    out = root / "onnx"
    export_checkpoint(str(ckpt), out, HEIGHT, WIDTH, steps=STEPS)
    from iid_rdepth_ros.synth.generate import generate

    frames = root / "synth"
    generate(frames, frames=3, seed=3, height=150, width=496, progress=False)
    return ckpt, out, frames


def test_files_sidecar_and_checker(exported: tuple[Path, Path, Path]) -> None:
    ckpt, out, _ = exported
    sidecar = json.loads((out / "export.json").read_text())
    assert (sidecar["height"], sidecar["width"], sidecar["steps"]) == (HEIGHT, WIDTH, STEPS)
    assert sidecar["opset"] >= 17 and sidecar["preset"] == PRESET
    assert sidecar["model"] == str(ckpt)
    assert sidecar["canonical_focal"] == pytest.approx(get_preset(PRESET).canonical_focal)
    assert (sidecar["min_depth"], sidecar["max_depth"]) == (1e-3, 80.0)
    assert "dynamo=False" in sidecar["exporter"]
    for variant in ("mono", "stereo"):
        path = out / f"{variant}.onnx"
        entry = sidecar["graphs"][variant]
        assert entry["sha256"] == sha256_file(path)
        assert not list(out.glob("*.data"))  # weights inline (< 2 GB)
        onnx.checker.check_model(str(path), full_check=True)
        graph = onnx.load(str(path))
        assert [o.version for o in graph.opset_import if o.domain in ("", "ai.onnx")] == [17]
        shapes = {i.name: [d.dim_value for d in i.type.tensor_type.shape.dim]
                  for i in graph.graph.input}
        want = {"image": [1, 3, HEIGHT, WIDTH]}
        if variant == "stereo":
            want.update(aux=[1, 3, HEIGHT, WIDTH], fb=[1])
        assert shapes == want == entry["inputs"]
        out_dims = [d.dim_value for d in graph.graph.output[0].type.tensor_type.shape.dim]
        assert graph.graph.output[0].name == "depth" and out_dims == [1, 1, HEIGHT, WIDTH]
        meta = get_metadata(path)
        assert meta["variant"] == variant and meta["steps"] == STEPS
        parity = entry["ort_vs_torch"]
        assert parity["ok"] and parity["refined"] == (variant == "stereo")
        if variant == "mono":
            assert parity["max_rel"] < RTOL
        else:
            assert parity["share_above_rtol"] <= PARITY_REFINE_SHARE


def test_graphs_use_only_tensorrt10_supported_ops(exported: tuple[Path, Path, Path]) -> None:
    _, out, _ = exported
    table = load_op_table()
    for variant in ("mono", "stereo"):
        report = check_onnx(out / f"{variant}.onnx")
        assert report.ok, report.summary()
        assert all(table[op].supported for op in report.op_counts)
        if variant == "stereo":  # AV-LFE is in the graph: its warps are GridSample nodes
            assert report.op_counts.get("GridSample", 0) >= 2
    sidecar = json.loads((out / "export.json").read_text())
    assert all(g["tensorrt10_compatible"] for g in sidecar["graphs"].values())


@pytest.mark.parametrize("stereo", [False, True], ids=["mono", "stereo"])
def test_onnxruntime_depth_equals_pytorch_on_synth_frames(
        exported: tuple[Path, Path, Path], stereo: bool) -> None:
    ckpt, out, frames_dir = exported
    frames = synth_frames(frames_dir, 3, stereo=stereo)
    size = {"input_height": HEIGHT, "input_width": WIDTH, "diffusion_steps": STEPS,
            "num_threads": 1}
    torch_runner = open_runner(RunnerConfig(backend="torch", model_path=str(ckpt), **size))
    ort_runner = open_runner(RunnerConfig(backend="onnxruntime",
                                            model_path=str(out / "mono.onnx"), **size))
    with torch_runner, ort_runner:
        assert ort_runner.has_stereo and torch_runner.has_stereo
        for frame in frames:
            kwargs = {"aux": frame.aux, "intrinsics": frame.intrinsics,
                      "baseline_m": frame.baseline_m}
            a = torch_runner.infer(frame.image, **kwargs)
            b = ort_runner.infer(frame.image, **kwargs)
            assert a.shape == b.shape == frame.image.shape[:2]
            assert np.array_equal(np.isnan(a), np.isnan(b))
            ok = np.isfinite(a)
            assert ok.mean() > 0.9
            rel = np.abs(b[ok].astype(np.float64) - a[ok]) / np.abs(a[ok])
            if stereo:
                # the stereo refinement thresholds its matches: a near-tie of two candidates'
                # ZNCC may go the other way in ONNX Runtime, which moves that pixel and, a
                # little, the spread correction around it; everything else stays within RTOL
                assert np.median(rel) < RTOL
                assert (rel > REFINE_PIXEL_RTOL).mean() < REFINE_FLIP_SHARE
            else:
                np.testing.assert_allclose(b[ok], a[ok], rtol=RTOL, atol=0)
            if stereo:  # AV-LFE engaged: the auxiliary view changes the depth
                mono = ort_runner.infer(frame.image, intrinsics=frame.intrinsics)
                assert np.nanmax(np.abs(mono - b)) > 1e-3


def test_baseline_checkpoint_exports_mono_only(tmp_path: Path) -> None:
    ckpt = make_checkpoint(tmp_path / "base", variant="baseline")
    (tmp_path / "onnx").mkdir()
    (tmp_path / "onnx" / "stereo.onnx").write_bytes(b"stale")  # must not survive
    result = export_checkpoint(str(ckpt), tmp_path / "onnx", 64, 192, steps=1, verify=False)
    assert set(result.graphs) == {"mono"}
    assert not (tmp_path / "onnx" / "stereo.onnx").exists()
