"""``open_runner`` and ``CameraRunner``: the network input follows the camera's aspect."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from iid_rdepth_ros.export.open_runner import CameraRunner
from iid_rdepth_ros.runtime import Intrinsics, RunnerConfig


def _frame(h: int, w: int) -> tuple[np.ndarray, Intrinsics]:
    rgb = np.random.default_rng(h + w).integers(0, 256, (h, w, 3), dtype=np.uint8)
    return rgb, Intrinsics(0.8 * w, 0.8 * w, (w - 1) / 2, (h - 1) / 2)


def test_checkpoint_runs_at_the_camera_aspect(untrained_checkpoint: Path) -> None:
    pytest.importorskip("torch")
    config = RunnerConfig(backend="torch", model_path=str(untrained_checkpoint),
                          input_height=96, input_width=320, diffusion_steps=1, num_threads=1)
    cameras = CameraRunner(config)
    try:
        assert cameras.fixed_hw is None and cameras.load().network_hw == (96, 320)
        runner = cameras.for_camera((480, 640))
        assert runner.network_hw == (160, 192) == cameras.size_for((480, 640))
        rgb, intr = _frame(480, 640)
        depth = runner.infer(rgb, intrinsics=intr, output_resolution="network")
        assert depth.shape == (144, 192)  # 4:3 inside 160x192: 16 padding rows
        assert cameras.for_camera((120, 400)).network_hw == (96, 320)
    finally:
        cameras.close()


def test_fixed_graph_keeps_its_size_and_letterboxes(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from onnx_graphs import write_tiny_graphs

    graphs = write_tiny_graphs(tmp_path / "g", 64, 192)
    config = RunnerConfig(backend="auto", model_path=str(graphs["mono"]), input_height=192,
                          input_width=640, num_threads=1)
    cameras = CameraRunner(config)
    try:
        assert cameras.fixed_hw == (64, 192)
        runner = cameras.for_camera((480, 640))
        assert runner.network_hw == (64, 192) and cameras.failed == {}
        rgb, intr = _frame(480, 640)
        assert runner.infer(rgb, intrinsics=intr, output_resolution="network").shape == (64, 85)
        assert runner.infer(rgb, intrinsics=intr).shape == (480, 640)
    finally:
        cameras.close()
