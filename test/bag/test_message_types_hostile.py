"""A crafted bag cannot run code: bags typed ``evilpkg/msg/X`` and ``unittest/__main__/X``
replayed by the real ``iid-rdepth replay`` and ``eval-bag --live --play`` (and the node they
feed) from a working directory holding hostile packages. Each package writes a marker file
when imported; none may exist afterwards, and the commands end cleanly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hostile_inputs import (
    EVIL_TYPE,
    STDLIB_MAIN_TYPE,
    copy_with_hostile_topics,
    hostile_cwd,
    markers_written,
)
from ros_node_harness import PRESET, free_domain, ros_env, tiny_checkpoint

from iid_rdepth_ros.bag.synth_bag import TOPICS, write_synth_bag
from iid_rdepth_ros.ros.node_process import NodeProcess

pytest.importorskip("rclpy")
DOMAIN = free_domain(70)
HOSTILE = {"/vendor": EVIL_TYPE, "/vendor2": STDLIB_MAIN_TYPE}


def _cli(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """The command as the issue ran it: ``python -m iid_rdepth_ros.cli.main`` in ``cwd``."""
    return subprocess.run([sys.executable, "-m", "iid_rdepth_ros.cli.main", *args], cwd=cwd,
                          env=dict(os.environ, **ros_env(DOMAIN)), capture_output=True,
                          text=True, timeout=timeout)


def test_the_hostile_directory_is_armed(tmp_path: Path) -> None:
    """Control: Python run in that directory the usual way does import its packages."""
    markers = tmp_path / "markers"
    cwd = hostile_cwd(tmp_path / "cwd", markers)
    proc = subprocess.run([sys.executable, "-c", "import evilpkg.msg"], cwd=cwd,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert markers_written(markers) == ["evilpkg"]


def test_replay_skips_crafted_types_and_runs_nothing(tmp_path: Path) -> None:
    markers = tmp_path / "markers"
    cwd = hostile_cwd(tmp_path / "cwd", markers)
    bag = copy_with_hostile_topics(None, tmp_path / "bag", HOSTILE)
    proc = _cli("replay", str(bag), "--no-progress", cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "/ok: 3" in proc.stdout
    lines = proc.stdout.splitlines()
    assert any(ln.strip().startswith(f"skipped /vendor: {EVIL_TYPE} is not a message of an "
                                     "installed ROS interface package") for ln in lines)
    assert any(ln.strip().startswith(f"skipped /vendor2: {STDLIB_MAIN_TYPE!r} is not a ROS "
                                     "message type name") for ln in lines)
    assert "usage:" not in proc.stdout + proc.stderr  # unittest's command line never ran
    assert markers_written(markers) == []


def test_replay_of_only_unresolved_topics_is_one_line(tmp_path: Path) -> None:
    """Issue item 2: ``--topics /vendor`` whose type is not installed used to end in a
    KeyError naming an unselected topic (an empty selection read every topic)."""
    markers = tmp_path / "markers"
    cwd = hostile_cwd(tmp_path / "cwd", markers)
    bag = copy_with_hostile_topics(None, tmp_path / "bag", {"/vendor": EVIL_TYPE})
    proc = _cli("replay", str(bag), "--topics", "/vendor", "--no-progress", cwd=cwd)
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith(f"iid-rdepth replay: error: {bag}: nothing to replay")
    assert f"/vendor: {EVIL_TYPE} is not a message of an installed" in lines[0]
    assert "/ok" not in lines[0] and proc.stdout == ""
    assert markers_written(markers) == []


def test_eval_bag_live_play_from_a_hostile_directory(tmp_path: Path) -> None:
    """``eval-bag --live --play`` starts the replay itself; the node runs there too. Both
    processes start in the hostile directory; the crafted topics are skipped, the frames
    are scored, nothing hostile is imported by any of the three processes."""
    assert PRESET == "lite0-96x320"
    markers = tmp_path / "markers"
    cwd = hostile_cwd(tmp_path / "cwd", markers)
    ckpt = tiny_checkpoint()
    synth = write_synth_bag(tmp_path / "synth", 4, 23, 96, 320, progress=False).path
    bag = copy_with_hostile_topics(synth, tmp_path / "bag", HOSTILE)
    params = {"model_path": str(ckpt), "backend": "torch", "input_height": 96,
              "input_width": 320, "min_depth": 0.001, "max_depth": 1000.0,
              "publish_points": False, "publish_colorized": False, "input_qos": "reliable",
              "aux_mode": "off"}
    remaps = {"image": TOPICS["left"], "camera_info": TOPICS["left_info"]}
    env = {**ros_env(DOMAIN), "OMP_NUM_THREADS": "1"}
    with NodeProcess(tmp_path / "node.log", "hostile", params, remaps, env=env,
                     cwd=cwd) as node:
        proc = _cli("eval-bag", str(bag), "--image-topic", TOPICS["left"],
                    "--camera-info-topic", TOPICS["left_info"], "--gt-depth-topic",
                    TOPICS["depth"], "--model", str(ckpt), "--backend", "torch", "--threads",
                    "1", "--no-progress", "--plot-frames", "0", "--live", "--play", "--rate",
                    "0.5", "--depth-topic", "/hostile/depth/image", "--settle", "3", "--wait",
                    "120", "--out", str(tmp_path / "live"), cwd=cwd, timeout=300)
        assert proc.returncode == 0, f"{proc.stderr}\nnode log:\n{node.log()[-3000:]}"
        assert node.alive(), node.log()[-3000:]
    assert "Traceback" not in proc.stderr
    frames = json.loads((tmp_path / "live" / "metrics.json").read_text())["frames"]
    assert frames["expected"] == 4 and frames["evaluated"] >= 1, frames
    assert markers_written(markers) == []
