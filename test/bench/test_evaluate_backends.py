"""``iid-rdepth evaluate --backend``: torch and onnxruntime runners give the same metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from iid_rdepth_ros.cli.main import main
from iid_rdepth_ros.evaluation.metrics import METRIC_KEYS
from iid_rdepth_ros.model import build_model, get_preset
from iid_rdepth_ros.model.checkpoint import save_checkpoint


def test_onnxruntime_and_torch_backends_score_the_same(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from iid_rdepth_ros.synth.generate import generate

    torch.set_num_threads(1)
    torch.manual_seed(4)
    model = build_model(get_preset("lite0-96x320"))
    with torch.no_grad():
        for param in model.trainable_parameters():
            param.add_(0.02 * torch.randn_like(param))
    save_checkpoint(tmp_path / "net", model)
    # the network's aspect (96x320), not its size: the runtime scales without padding, as
    # the direct path (training's frames, which squash) does, so the two can agree exactly
    generate(tmp_path / "data", frames=3, seed=11, height=150, width=500, progress=False)
    results = {}
    for backend in ("torch", "onnxruntime"):
        out = tmp_path / f"{backend}.json"
        code = main(["evaluate", "--model", str(tmp_path / "net"), "--data",
                     str(tmp_path / "data"), "--steps", "1", "--backend", backend,
                     "--threads", "1", "--json", str(out), "--no-progress"])
        assert code == 0, capsys.readouterr().err
        results[backend] = json.loads(out.read_text())
    a, b = results["torch"], results["onnxruntime"]
    assert a["frames"] == b["frames"] == 3 and a["aux_engaged"] and b["aux_engaged"]
    assert a["timing"]["backend"] == "torch" and b["timing"]["backend"] == "onnxruntime"
    assert abs(b["rmse"] - a["rmse"]) <= 1e-3 * a["rmse"]  # within 0.1 %
    for key in METRIC_KEYS:
        assert b[key] == pytest.approx(a[key], rel=1e-3, abs=1e-6), key
    # the runtime path agrees with calling the model directly (same frames, same protocol)
    direct = tmp_path / "direct.json"
    assert main(["evaluate", "--model", str(tmp_path / "net"), "--data",
                 str(tmp_path / "data"), "--steps", "1", "--threads", "1", "--json",
                 str(direct), "--no-progress"]) == 0
    assert json.loads(direct.read_text())["rmse"] == pytest.approx(a["rmse"], rel=1e-3)


def test_backend_option_user_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "--model", "x", "--data", str(tmp_path), "--backend",
                 "tensorrt"]) == 2
    assert "--engine" in capsys.readouterr().err
    assert main(["evaluate", "--sgbm", "--data", str(tmp_path), "--backend", "torch"]) == 2
    assert "--sgbm" in capsys.readouterr().err
