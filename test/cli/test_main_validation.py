"""Every command checks its outputs and sizes before it starts work, and every failure a user
can cause ends in one line naming the file and the reason, exit status 2, no traceback
(``cli/main.py``: ``user_error_message``; ``cli/arg_types.py``: ``output_*`` and sizes)."""

from __future__ import annotations

import errno
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from iid_rdepth_ros.artifacts.errors import RunnerError
from iid_rdepth_ros.cli import replay_cmd
from iid_rdepth_ros.cli.main import main, user_error_message

AFILE = "{tmp}/afile"

#: one argument per command that writes something, pointed under a plain file
OUTPUTS = [
    ["evaluate", "--sgbm", "--data", "{tmp}", "--json", AFILE + "/x.json"],
    ["evaluate", "--sgbm", "--data", "{tmp}", "--markdown", AFILE + "/x.md"],
    ["evaluate", "--model", "default", "--data", "{tmp}", "--save-predictions", AFILE + "/p"],
    ["export", "--out", AFILE + "/onnx"],
    ["build-engine", "--onnx", "{tmp}", "--out", AFILE + "/engines"],
    ["build-engine", "--onnx", "{tmp}", "--out", "{tmp}/e", "--timing-cache", AFILE + "/t"],
    ["bench", "--out", AFILE + "/bench"],
    ["bench", "--cache-dir", AFILE + "/cache"],
    ["eval-bag", "{tmp}", "--image-topic", "/i", "--camera-info-topic", "/c",
     "--gt-depth-topic", "/d", "--out", AFILE + "/eval"],
    ["synth", "--out", AFILE + "/data"],
    ["synth", "--bag", AFILE + "/bag"],
    ["train", "--out", AFILE + "/run"],
    ["demo", "--out", AFILE + "/demo"],
]


def _run(argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
         ) -> tuple[int, list[str]]:
    rc = main([a.format(tmp=tmp_path) for a in argv])
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    return rc, err


@pytest.mark.parametrize("argv", OUTPUTS, ids=lambda a: f"{a[0]}-{a[-2]}")
def test_unwritable_outputs_stop_every_command_before_work(
        argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "afile").write_text("not a folder")
    rc, err = _run(argv, tmp_path, capsys)
    assert rc == 2 and len(err) == 1, err
    assert f"argument {argv[-2]}" in err[0] and f"{tmp_path}/afile is a file" in err[0], err
    assert "Traceback" not in err[0]


def test_evaluate_json_is_checked_before_the_evaluation(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue item 6: the path used to fail after the whole evaluation, as a bare errno."""
    started = []
    monkeypatch.setattr("iid_rdepth_ros.bench.evaluate_sgbm.evaluate_sgbm",
                        lambda *a, **k: started.append(1))
    (tmp_path / "afile").write_text("x")
    rc, err = _run(["evaluate", "--sgbm", "--data", "{tmp}", "--json", AFILE + "/x.json"],
                   tmp_path, capsys)
    assert rc == 2 and not started
    assert err == [f"iid-rdepth evaluate: error: argument --json: cannot write "
                   f"{tmp_path}/afile/x.json: {tmp_path}/afile is a file, not a directory "
                   "(see 'iid-rdepth evaluate --help')"]


def test_train_out_dir_from_a_config_file_is_checked_before_training(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "afile").write_text("x")
    (tmp_path / "data").mkdir()
    cfg = tmp_path / "run.yaml"
    cfg.write_text(f"out_dir: {tmp_path}/afile/run\n")
    rc, err = _run(["train", "--config", str(cfg), "--train-dir", "{tmp}/data", "--val-dir",
                    "none"], tmp_path, capsys)
    assert rc == 2 and len(err) == 1
    assert err == [f"iid-rdepth train: error: cannot write {tmp_path}/afile/run: {tmp_path}/afile "
                   "is a file, not a directory"]


@pytest.mark.parametrize("argv, words", [
    (["export", "--out", "{tmp}/o", "--width", "100000"], "--width: expected a multiple of 32 "
                                                          "in 32..4096, got 100000"),
    (["export", "--out", "{tmp}/o", "--height", "2080"], "in 32..2048, got 2080"),
    (["export", "--out", "{tmp}/o", "--height", "100"], "multiple of 32"),
    (["export", "--out", "{tmp}/o", "--steps", "65"], "steps in 1..64, got 65"),
    (["bench", "--sizes", "192x100000"], "must be a multiple of 32 in 32..4096"),
    (["bench", "--steps", "1,1000"], "--steps values must be an integer in 1..64"),
    (["bench", "--name", "../x"], "without a folder"),
    (["bench", "--threads", "100000"], "threads in 1..1024"),
    (["eval-bag", "{tmp}", "--image-topic", "/i", "--camera-info-topic", "/c",
      "--gt-depth-topic", "/d", "--input-size", "4096x4096"], "up to 2048x4096"),
    (["synth", "--out", "{tmp}/s", "--width", "5000"], "pixels in 1..4096"),
    (["evaluate", "--sgbm", "--data", "{tmp}", "--batch-size", "100000"], "1..256"),
    (["demo", "--steps", "0"], "steps in 1..64"),
    (["train", "--steps1", "0"], "positive integer"),
])
def test_sizes_are_bounded(argv: list[str], words: str, tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    rc, err = _run(argv, tmp_path, capsys)
    assert rc == 2 and len(err) == 1 and words in err[0], err
    assert not (tmp_path / "o").exists() and not (tmp_path / "s").exists()


def test_error_messages_are_one_line_with_the_file() -> None:
    assert user_error_message(OSError(errno.ENOSPC, "No space left on device", "/o/x.onnx")) \
        == "/o/x.onnx: No space left on device"
    assert user_error_message(FileNotFoundError("checkpoint file not found: x")) \
        == "checkpoint file not found: x"
    assert user_error_message(ValueError("first line\nsecond")) == "first line"
    assert user_error_message(RunnerError("engine x.engine: built for another GPU")) \
        == "engine x.engine: built for another GPU"
    try:
        yaml.safe_load("a: [1")
    except yaml.YAMLError as exc:
        assert user_error_message(exc) is not None
    assert user_error_message(FloatingPointError("loss is nan")) == "loss is nan"
    assert user_error_message(MemoryError()).startswith("out of memory")
    for bug in (KeyError("x"), TypeError("x"), AttributeError("x"), RuntimeError("x")):
        assert user_error_message(bug) is None


def test_a_bug_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(args):
        raise KeyError("/ok")

    monkeypatch.setattr(replay_cmd, "run", broken)
    with pytest.raises(KeyError):
        main(["replay", "some.bag"])


def test_an_os_error_is_one_line_exit_2(monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    def full_disk(args):
        raise OSError(errno.ENOSPC, "No space left on device", "out/mono.onnx")

    monkeypatch.setattr(replay_cmd, "run", full_disk)
    assert main(["replay", "some.bag"]) == 2
    assert capsys.readouterr().err == ("iid-rdepth replay: error: out/mono.onnx: No space left "
                                       "on device\n")


def test_python_m_drops_the_working_directory(tmp_path: Path) -> None:
    """``python -m iid_rdepth_ros.cli.main`` in a folder holding a module the CLI imports
    later (``yaml``) uses the installed one."""
    marker = tmp_path / "marker"
    (tmp_path / "yaml.py").write_text(f"open({str(marker)!r}, 'w').write('x')\n")
    proc = subprocess.run([sys.executable, "-m", "iid_rdepth_ros.cli.main", "train", "--set",
                           "batch_size=0"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and "batch_size" in proc.stderr, proc.stderr
    assert not marker.exists()
