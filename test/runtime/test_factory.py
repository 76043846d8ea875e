"""Runners: backend choice, ONNX cache, clear errors for missing/corrupt files, shared I/O.

Untrained checkpoints saved here with ``save_checkpoint``; network size 64x192, T=1.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from iid_rdepth_ros.artifacts.onnx_meta import get_metadata
from iid_rdepth_ros.bench.compare import compare_runners
from iid_rdepth_ros.bench.frames import Frame, procedural_frame
from iid_rdepth_ros.export.onnx_export import GRAPH_REVISION
from iid_rdepth_ros.export.open_runner import open_runner
from iid_rdepth_ros.model import build_model, get_preset
from iid_rdepth_ros.model.checkpoint import save_checkpoint
from iid_rdepth_ros.runtime import Intrinsics, RunnerConfig, RunnerError

SIZE = {"input_height": 64, "input_width": 192, "diffusion_steps": 1, "num_threads": 1}


def _checkpoint(stem: Path, variant: str = "full") -> str:
    """Without the thresholded stereo refinement, so that PyTorch and ONNX Runtime agree
    pixel for pixel here (its own parity is tested in test_export_onnx.py)."""
    torch.manual_seed(1)
    cfg = get_preset("lite0-96x320")
    cfg.avlfe.refine = False
    model = build_model(cfg, variant=variant)
    with torch.no_grad():
        for param in model.trainable_parameters():
            param.add_(0.02 * torch.randn_like(param))
    save_checkpoint(stem, model)
    return str(stem)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> str:
    torch.set_num_threads(1)
    return _checkpoint(tmp_path_factory.mktemp("ckpt") / "net")


@pytest.fixture(scope="module")
def frame() -> Frame:
    return procedural_frame(120, 360, seed=2, stereo=True)


def test_auto_backend_and_onnx_cache_beside_checkpoint(ckpt: str, frame: Frame) -> None:
    runner = open_runner(RunnerConfig(backend="auto", model_path=ckpt, **SIZE))
    assert runner.backend == "onnxruntime"  # no TensorRT engine configured here
    with runner:
        depth = runner.infer(frame.image, intrinsics=frame.intrinsics)
        graphs = runner.info["graphs"]
    cache_entry = Path(graphs["mono"]).parent
    assert cache_entry.parent == Path(ckpt).parent / ".onnx_cache"
    assert "_64x192_T1_" in cache_entry.name
    # a newer exporter (another graph from the same weights) gets its own entry
    assert cache_entry.name.endswith(f"_g{GRAPH_REVISION}")
    assert json.loads((cache_entry / "export.json").read_text())["graph_revision"] == \
        GRAPH_REVISION
    stamp = (cache_entry / "export.json").stat().st_mtime_ns
    # spin_wait=False (what the node runs) only changes how idle threads wait, not the result
    with open_runner(RunnerConfig(backend="onnxruntime", model_path=ckpt, spin_wait=False,
                                    **SIZE)) as again:
        assert again.info["graphs"] == graphs  # reused, not exported again
        np.testing.assert_array_equal(again.infer(frame.image, intrinsics=frame.intrinsics),
                                      depth)
    assert (cache_entry / "export.json").stat().st_mtime_ns == stamp
    (cache_entry / "mono.onnx").write_bytes(b"truncated")  # a damaged entry is re-exported
    with open_runner(RunnerConfig(backend="onnxruntime", model_path=ckpt, **SIZE)) as fixed:
        np.testing.assert_array_equal(fixed.infer(frame.image, intrinsics=frame.intrinsics),
                                      depth)


def test_runners_agree_through_the_shared_pre_and_post_processing(ckpt: str, frame: Frame) -> None:
    runners = [open_runner(RunnerConfig(backend=b, model_path=ckpt, **SIZE))
               for b in ("torch", "onnxruntime")]
    with runners[0] as torch_runner, runners[1] as ort_runner:
        for resolution, shape in (("input", (120, 360)), ("network", (64, 192))):
            outs = [r.infer(frame.image, aux=frame.aux, intrinsics=frame.intrinsics,
                            baseline_m=frame.baseline_m, output_resolution=resolution)
                    for r in (torch_runner, ort_runner)]
            assert outs[0].shape == outs[1].shape == shape
            assert np.array_equal(np.isnan(outs[0]), np.isnan(outs[1]))
            np.testing.assert_allclose(outs[1], outs[0], rtol=1e-4, equal_nan=True)
        report = compare_runners(torch_runner, ort_runner, [frame, frame])
        assert report["frames"] == 2 and report["worst"]["rel_max"] < 1e-4
        assert report["worst"]["valid_mismatch"] == 0.0
        # the focal rescale is applied once, the same way: a 2x focal doubles the depth
        wide = Intrinsics(frame.intrinsics.fx * 2, frame.intrinsics.fy * 2,
                          frame.intrinsics.cx, frame.intrinsics.cy)
        near = ort_runner.infer(frame.image, intrinsics=frame.intrinsics,
                                output_resolution="network")
        far = ort_runner.infer(frame.image, intrinsics=wide, output_resolution="network")
        ok = np.isfinite(near) & np.isfinite(far)
        np.testing.assert_allclose(far[ok], 2 * near[ok], rtol=1e-5)
        info = torch_runner.info
        assert info["backend"] == "torch" and info["diffusion_steps"] == 1
        assert info["last_latency_ms"] > 0 and info["stereo_capable"]


def test_missing_and_corrupt_files_give_a_clear_runner_error(ckpt: str, tmp_path: Path) -> None:
    cases = {
        "missing checkpoint": ("torch", str(tmp_path / "nope"), "nope"),
        "missing checkpoint (ort)": ("onnxruntime", str(tmp_path / "nope"), "nope"),
        "missing onnx": ("onnxruntime", str(tmp_path / "nope.onnx"), "does not exist"),
    }
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x08\x07not a protobuf at all" * 10)
    cases["corrupt onnx"] = ("onnxruntime", str(garbage), "garbage.onnx")
    broken = tmp_path / "broken"
    save = Path(ckpt)
    (tmp_path / "broken.yaml").write_text(save.with_suffix(".yaml").read_text())
    (tmp_path / "broken.safetensors").write_bytes(b"\0" * 64)
    cases["corrupt weights"] = ("torch", str(broken), "broken.safetensors")
    for label, (backend, path, words) in cases.items():
        runners = []  # a checkpoint for onnxruntime is exported when the runner is opened
        with pytest.raises(RunnerError, match=words.replace(".", r"\.")) as info:
            runners.append(open_runner(RunnerConfig(backend=backend, model_path=path, **SIZE)))
            runners[0].load()
        assert "Traceback" not in str(info.value), label
        assert not any(r.is_loaded for r in runners)


def test_wrong_size_or_steps_and_use_before_load(ckpt: str, frame: Frame, tmp_path: Path) -> None:
    with open_runner(RunnerConfig(backend="onnxruntime", model_path=ckpt, **SIZE)) as runner:
        mono = runner.info["graphs"]["mono"]
    other = RunnerConfig(backend="onnxruntime", model_path=mono,
                         **{**SIZE, "input_height": 96, "diffusion_steps": 4})
    with pytest.raises(RunnerError, match=r"exported at 64x192.*96x192.*T=1.*T=4"):
        open_runner(other).load()
    idle = open_runner(RunnerConfig(backend="torch", model_path=ckpt, **SIZE))
    with pytest.raises(RunnerError, match="load"):
        idle.infer(frame.image, intrinsics=frame.intrinsics)
    idle.close()  # closing an unloaded runner is harmless
    with open_runner(RunnerConfig(backend="torch", model_path=ckpt, **SIZE)) as runner:
        with pytest.raises(ValueError, match="intrinsics"):
            runner.infer(frame.image)
        with pytest.raises(ValueError, match="differs"):
            runner.infer(frame.image, aux=frame.aux[:60], intrinsics=frame.intrinsics,
                         baseline_m=0.5)
        with pytest.raises(ValueError, match="baseline_m"):
            runner.infer(frame.image, aux=frame.aux, intrinsics=frame.intrinsics)
        with pytest.raises(ValueError, match="fx"):
            runner.infer(frame.image, intrinsics=Intrinsics(float("nan"), 1.0, 0.0, 0.0))


def test_baseline_model_has_no_stereo_path_and_runs_mono(tmp_path: Path, frame: Frame) -> None:
    base = _checkpoint(tmp_path / "base", variant="baseline")
    for backend in ("torch", "onnxruntime"):
        with open_runner(RunnerConfig(backend=backend, model_path=base, **SIZE)) as runner:
            assert not runner.info["stereo_capable"]
            mono = runner.infer(frame.image, intrinsics=frame.intrinsics)
            with_aux = runner.infer(frame.image, aux=frame.aux, intrinsics=frame.intrinsics,
                                    baseline_m=frame.baseline_m)
            np.testing.assert_array_equal(mono, with_aux)


def test_stereo_refine_off_drops_the_refinement_in_every_backend(tmp_path: Path,
                                                                  frame: Frame) -> None:
    torch.manual_seed(3)
    model = build_model(get_preset("lite0-96x320"), variant="full")  # refinement on
    save_checkpoint(tmp_path / "net", model)
    ckpt = str(tmp_path / "net")
    stereo = {"aux": frame.aux, "intrinsics": frame.intrinsics, "baseline_m": frame.baseline_m,
              "output_resolution": "network"}
    outs = {}
    for backend in ("torch", "onnxruntime"):
        for refine in (True, False):
            config = RunnerConfig(backend=backend, model_path=ckpt, stereo_refine=refine,
                                  **SIZE)
            with open_runner(config) as runner:
                outs[backend, refine] = runner.infer(frame.image, **stereo)
                assert runner.info["stereo_refine"] is refine
                if backend == "onnxruntime":
                    graphs = runner.info["graphs"]
                    assert graphs["stereo"].endswith("stereo.onnx")
                    assert get_metadata(graphs["stereo"])["stereo_refine"] is refine
                    assert Path(graphs["stereo"]).parent.name.endswith("_norefine") != refine
                    if refine:
                        refined_graph = graphs["mono"]
    assert not np.allclose(outs["torch", True], outs["torch", False], equal_nan=True)
    # without the thresholded refinement both backends agree pixel for pixel
    np.testing.assert_allclose(outs["onnxruntime", False], outs["torch", False], rtol=1e-4,
                               equal_nan=True)
    off = RunnerConfig(backend="onnxruntime", model_path=refined_graph, stereo_refine=False,
                       **SIZE)
    with pytest.raises(RunnerError, match="--no-stereo-refine"):
        open_runner(off).load()


def test_session_options_spin_wait() -> None:
    import onnxruntime as ort

    from iid_rdepth_ros.runtime.onnxruntime_runner import session_options

    key = "session.intra_op.allow_spinning"
    assert session_options(ort, 2, spin_wait=False).get_session_config_entry(key) == "0"
    with pytest.raises(Exception, match="not exist|not found|allow_spinning"):
        session_options(ort, 2).get_session_config_entry(key)  # ORT's default (spinning) kept


def test_auto_backend_says_why_a_configured_engine_is_not_used(tmp_path: Path) -> None:
    from iid_rdepth_ros.runtime.factory import backend_choice

    missing = RunnerConfig(backend="auto", engine_path=str(tmp_path / "mono.fp16.engine"))
    backend, note = backend_choice(missing)
    assert backend in ("onnxruntime", "torch")
    assert note == (f"engine_path {tmp_path / 'mono.fp16.engine'} not used: engine "
                    f"{tmp_path / 'mono.fp16.engine'} does not exist")
    assert backend_choice(RunnerConfig(backend="auto")) == (backend, "")
    assert backend_choice(RunnerConfig(backend="torch", engine_path="x.engine")) == ("torch", "")


def test_onnxruntime_hands_on_a_graph_confidence(tmp_path: Path) -> None:
    from onnx_graphs import write_tiny_graphs

    from iid_rdepth_ros.runtime.factory import fixed_network_size

    graphs = write_tiny_graphs(tmp_path / "tiny", 64, 192)
    config = RunnerConfig(backend="onnxruntime", model_path=str(graphs["stereo"]),
                          input_height=64, input_width=192, num_threads=1)
    assert fixed_network_size(RunnerConfig(model_path=str(graphs["mono"]))) == (64, 192)
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (120, 360, 3), dtype=np.uint8)
    intr = Intrinsics(300.0, 300.0, 179.5, 59.5)
    with open_runner(config) as runner:
        mono = runner.infer_full(img, intrinsics=intr)
        assert mono.confidence is None
        same = runner.infer_full(img, img, intr, baseline_m=0.1)
        assert same.confidence is not None and same.confidence.shape == (120, 360)
        np.testing.assert_allclose(same.confidence, 1.0, atol=1e-5)
        other = runner.infer_full(img, 255 - img, intr, baseline_m=0.1)
        assert np.nanmean(other.confidence) < 0.9
        np.testing.assert_allclose(same.depth, mono.depth)
