"""``iid-rdepth evaluate`` through the real dispatcher (JSON / Markdown outputs, user errors)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from eval_fixtures import make_checkpoint, make_data

from iid_rdepth_ros.cli.main import main
from iid_rdepth_ros.evaluation.metrics import METRIC_KEYS

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("evalcli")
    return {"ckpt": make_checkpoint(root / "ckpt" / "m"), "data": make_data(root / "data", 2)}


def test_evaluate_writes_json_and_markdown(env: dict[str, Path], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    out_json, out_md = tmp_path / "r" / "m.json", tmp_path / "r" / "m.md"
    rc = main(["evaluate", "--model", str(env["ckpt"]), "--data", str(env["data"]),
               "--aux", "off", "--steps", "2", "--json", str(out_json), "--markdown",
               str(out_md), "--batch-size", "2", "--threads", "1", "--no-progress"])
    assert rc == 0
    res = json.loads(out_json.read_text())
    for key in (*METRIC_KEYS, "frames"):
        assert key in res, key
    assert res["frames"] == 2 and res["aux"] is False and res["steps"] == 2
    md = out_md.read_text()
    assert "| network (mono) |" in md and "AbsRel" in md
    assert f"{res['abs_rel']:.4f}" in md
    assert "AbsRel" in capsys.readouterr().out  # the rich table


def test_evaluate_sgbm_cli(env: dict[str, Path], tmp_path: Path) -> None:
    out_json = tmp_path / "sgbm.json"
    rc = main(["evaluate", "--sgbm", "--data", str(env["data"]), "--json", str(out_json),
               "--no-progress"])
    assert rc == 0
    res = json.loads(out_json.read_text())
    assert all(k in res for k in (*METRIC_KEYS, "frames", "coverage"))
    assert 0.0 < res["coverage"] <= 1.0 and res["method"] == "opencv-stereo-sgbm"


@pytest.mark.parametrize("argv, needle", [
    (["evaluate", "--data", "{data}"], "--model is required"),
    (["evaluate", "--model", "{ckpt}", "--data", "{missing}"], "does not exist"),
    (["evaluate", "--model", "{missing}", "--data", "{data}"], "checkpoint file not found"),
    (["evaluate", "--model", "{ckpt}", "--data", "{data}", "--aux", "maybe"], "on or off"),
    (["evaluate", "--model", "{ckpt}", "--data", "{data}", "--steps", "0"], "steps in 1..64"),
])
def test_evaluate_user_errors(env: dict[str, Path], tmp_path: Path,
                              capsys: pytest.CaptureFixture[str], argv: list[str],
                              needle: str) -> None:
    values = {"data": str(env["data"]), "ckpt": str(env["ckpt"]),
              "missing": str(tmp_path / "missing")}
    rc = main([a.format(**values) for a in argv])  # usage errors too: main returns 2
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and "Traceback" not in err
    assert len(err.splitlines()) == 1
