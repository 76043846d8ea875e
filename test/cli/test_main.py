"""The ``iid-rdepth`` dispatcher: help, version, one-line usage errors with exit status 2."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from iid_rdepth_ros.cli.main import COMMANDS, main

REPO = Path(__file__).resolve().parents[2]


def _cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "iid_rdepth_ros.cli.main", *args],
                          capture_output=True, text=True, timeout=timeout, cwd=REPO)


def test_help_lists_commands_fast_and_without_torch() -> None:
    t0 = time.monotonic()
    proc = _cli("--help")
    elapsed = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr
    for name in ("synth", "train"):
        assert name in proc.stdout
    assert elapsed < 10, f"--help took {elapsed:.1f} s"
    probe = subprocess.run(
        [sys.executable, "-c", "import sys; from iid_rdepth_ros.cli.main import build_parser; "
         "build_parser(); print(sorted(m for m in ('torch', 'cv2', 'onnxruntime') "
         "if m in sys.modules))"],
        capture_output=True, text=True, timeout=60, cwd=REPO)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "[]", "building the parser imported heavy modules"


def test_version() -> None:
    proc = _cli("--version")
    assert proc.returncode == 0
    assert proc.stdout.startswith("iid-rdepth ")


@pytest.mark.parametrize("args, words", [
    ((), "choose a command"),
    (("no-such-command",), "invalid choice"),
    (("train", "--steps1", "many"), "--steps1"),
    (("train", "--set", "stage2.nope=1"), "stage2.nope"),
    (("train", "--config", "/nonexistent/run.yaml"), "/nonexistent/run.yaml"),
    (("train", "--train-dir", "/nonexistent/data", "--val-dir", "none"), "/nonexistent/data"),
    (("train", "--resume", "--out", "/nonexistent/run"), "nothing to resume"),
    (("synth", "--frames", "2"), "--out"),
])
def test_user_errors_are_one_line_exit_2(args: tuple[str, ...], words: str) -> None:
    proc = _cli(*args)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    if args:  # bare `iid-rdepth` also prints the usage line
        assert len(lines) == 1, proc.stderr
    assert words in lines[-1]


def test_main_in_process_returns_status(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--set", "batch_size=0"]) == 2
    err = capsys.readouterr().err
    assert "batch_size" in err and err.count("\n") == 1


def test_every_registered_module_name_is_a_cmd_module() -> None:
    assert all(mod.endswith("_cmd") for mod in COMMANDS.values())
    assert {"synth", "train", "evaluate", "demo"} <= set(COMMANDS)
