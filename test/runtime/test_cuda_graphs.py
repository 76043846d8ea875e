"""CUDA graphs of the torch runner equal eager execution (needs a CUDA device; skipped here).

The model's forward is captured for real with ``torch.cuda.graph`` (the capture-clean check
of test/model/test_iid_rdepth_capture.py on real hardware), and the runner's camera-to-depth
graphs (capture, and torch.compile's reduce-overhead mode) give the depth (and the stereo
confidence) the eager device path gives, within 1e-5 relative.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from iid_rdepth_ros.bench.frames import procedural_frame
from iid_rdepth_ros.model.checkpoint import load_model
from iid_rdepth_ros.runtime import RunnerConfig, create_runner
from iid_rdepth_ros.runtime.cuda_graphs import resolve_graph_mode

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="no CUDA device: CUDA graphs cannot run here")
SIZE = {"input_height": 192, "input_width": 640}


def test_auto_mode_resolves_per_device() -> None:
    assert resolve_graph_mode("auto", "cuda") == "capture"
    assert resolve_graph_mode("auto", "cpu") == "off"


@pytest.mark.parametrize("stereo", [False, True], ids=["mono", "stereo"])
def test_forward_captures_and_replays_like_eager(stereo: bool) -> None:
    model, _, _ = load_model("default")
    model = model.for_export().cuda()
    image = torch.rand(1, 3, 192, 640, device="cuda")
    kwargs = {"aux": torch.roll(image, -6, -1), "fb": torch.full((1,), 389.0, device="cuda")} \
        if stereo else {}
    stream = torch.cuda.Stream()
    with torch.inference_mode(), torch.cuda.stream(stream):
        for _ in range(3):
            eager = model(image, **kwargs)
        graph = torch.cuda.CUDAGraph()
        torch.cuda.set_sync_debug_mode("error")  # a sync inside forward would raise
        try:
            with torch.cuda.graph(graph, stream=stream):
                static = model(image, **kwargs)
        finally:
            torch.cuda.set_sync_debug_mode("default")
        image.copy_(torch.rand_like(image))
        graph.replay()
        eager = model(image, **kwargs)
    torch.cuda.synchronize()
    rel = ((static - eager).abs() / eager.abs().clamp_min(1e-6)).max().item()
    assert rel <= 1e-5


@pytest.mark.parametrize("mode", ["capture", pytest.param("compile", marks=pytest.mark.slow)])
@pytest.mark.parametrize("stereo", [False, True], ids=["mono", "stereo"])
def test_runner_graphs_equal_eager(mode: str, stereo: bool, tmp_path: Path) -> None:
    base = {"backend": "torch", "model_path": "default", "device": "cuda", **SIZE}
    eager = create_runner(RunnerConfig(**base, cuda_graphs="off"))
    graphed = create_runner(RunnerConfig(**base, cuda_graphs=mode))
    with eager, graphed:
        for seed in (1, 2, 3):  # new pixels through the same graph
            frame = procedural_frame(375, 1242, seed=seed, stereo=stereo)
            kwargs = {"aux": frame.aux, "intrinsics": frame.intrinsics,
                      "baseline_m": frame.baseline_m}
            ref = eager.infer_full(frame.image, **kwargs)
            out = graphed.infer_full(frame.image, **kwargs)
            assert np.array_equal(np.isnan(out.depth), np.isnan(ref.depth))
            ok = np.isfinite(ref.depth)
            assert np.max(np.abs(out.depth[ok] - ref.depth[ok]) / ref.depth[ok]) <= 1e-5
            # the shipped default's stereo path gives the matcher's confidence, graphed too
            assert (out.confidence is not None) == (ref.confidence is not None) == stereo
            if stereo:
                assert np.max(np.abs(out.confidence[ok] - ref.confidence[ok])) <= 1e-5
        info = graphed.info
        assert info["cuda_graphs"] == mode and info["pinned_buffers"]
        assert not info["graph_notes"], info["graph_notes"]  # nothing fell back to eager
