"""``iid-rdepth export`` and ``build-engine`` command lines: outputs, reports, user errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from iid_rdepth_ros.artifacts.lazy_import import is_available
from iid_rdepth_ros.cli.main import main
from iid_rdepth_ros.model import build_model, get_preset
from iid_rdepth_ros.model.checkpoint import save_checkpoint


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> str:
    torch.set_num_threads(1)
    stem = tmp_path_factory.mktemp("cli") / "net"
    save_checkpoint(stem, build_model(get_preset("lite0-96x320")))
    return str(stem)


def test_export_writes_graphs_sidecar_and_reports(ckpt: str, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "onnx"
    # a 4:3 camera within a 64x192 pixel budget: the graph keeps its aspect
    code = main(["export", "--model", ckpt, "--out", str(out), "--height", "64",
                 "--width", "192", "--steps", "1", "--camera", "640x480"])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "camera 640x480: graph size 96x128 (HxW, aspect kept within 64x192 pixels)" in text
    assert (out / "mono.onnx").is_file() and (out / "stereo.onnx").is_file()
    sidecar = json.loads((out / "export.json").read_text())
    assert (sidecar["height"], sidecar["width"], sidecar["steps"]) == (96, 128, 1)
    assert text.count("TensorRT 10 compatibility: OK") == 2
    assert text.count("ONNX Runtime vs PyTorch") == 2 and "ABOVE" not in text


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["export", "--model", "/no/such/checkpoint", "--out", "{tmp}"], "not found"),
        (["export", "--model", "{ckpt}", "--out", "{tmp}", "--height", "100"], "multiple of 32"),
        (["export", "--model", "{ckpt}", "--out", "{tmp}", "--steps", "0"], "--steps"),
        (["export", "--model", "{ckpt}", "--out", "{tmp}", "--max-disparity", "12"],
         "expected a multiple of 8 in 8..1024, got 12"),
        (["export", "--model", "{ckpt}", "--out", "{tmp}", "--max-disparity", "64"],
         "max_disparity sets the search range of the geometry-first stereo matcher"),
        (["build-engine", "--onnx", "/no/such.onnx", "--out", "{tmp}"], "does not exist"),
        (["build-engine", "--onnx", "{tmp}", "--out", "{tmp}", "--int8"], "--calib"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(argv: list[str], words: str, ckpt: str,
                                             tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    argv = [a.format(tmp=tmp_path, ckpt=ckpt) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err and "Traceback" not in err


def test_camera_size_is_width_x_height(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "--out", "x", "--camera", "640"]) == 2
    assert "expected WIDTHxHEIGHT in pixels (e.g. 1280x720), got '640'" in capsys.readouterr().err


def test_build_engine_without_tensorrt_names_what_to_install(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if is_available("tensorrt"):
        pytest.skip("TensorRT is installed here; see test_tensorrt_engine.py")
    graph = tmp_path / "mono.onnx"
    graph.write_bytes(b"not needed: TensorRT is checked first")
    assert main(["build-engine", "--onnx", str(graph), "--out", str(tmp_path / "e")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pip install tensorrt" in err
