"""``eval-bag --live``: the real node in its own process, the bag replayed to it over DDS
faster than it can run, every published depth scored and every missing one counted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ros_node_harness import PRESET, REPO, free_domain, ros_env, tiny_checkpoint

from iid_rdepth_ros.bag.synth_bag import TOPICS, write_synth_bag
from iid_rdepth_ros.ros.node_process import NodeProcess

pytest.importorskip("rclpy")
DOMAIN = free_domain(64)
FRAMES = 8
TOPIC_ARGS = ["--image-topic", TOPICS["left"], "--camera-info-topic", TOPICS["left_info"],
              "--aux-image-topic", TOPICS["right"], "--aux-camera-info-topic",
              TOPICS["right_info"], "--gt-depth-topic", TOPICS["depth"]]


def _offline(bag: Path, ckpt: Path, stereo: bool) -> dict[int, dict]:
    from iid_rdepth_ros.bag.evaluate import EvalOptions, evaluate_bag
    from iid_rdepth_ros.bag.frames import TopicSpec

    spec = TopicSpec(TOPICS["left"], TOPICS["left_info"],
                     TOPICS["right"] if stereo else None,
                     TOPICS["right_info"] if stereo else None, gt_depth=TOPICS["depth"])
    res = evaluate_bag(bag, spec, EvalOptions(backend="torch", model=str(ckpt), threads=1,
                                              plot_frames=0, progress=False))
    return {r["index"]: r for r in res["per_frame"]}


def test_live_counts_dropped_frames(tmp_path: Path) -> None:
    assert PRESET == "lite0-96x320"
    ckpt = tiny_checkpoint()
    bag = write_synth_bag(tmp_path / "bag", FRAMES, 21, 96, 320, progress=False).path
    env = dict(os.environ, **ros_env(DOMAIN), OMP_NUM_THREADS="1")
    common = [sys.executable, "-m", "iid_rdepth_ros.cli.main", "eval-bag", str(bag),
              *TOPIC_ARGS, "--model", str(ckpt), "--backend", "torch", "--threads", "1",
              "--no-progress", "--plot-frames", "1"]
    params = {"model_path": str(ckpt), "backend": "torch", "input_height": 96,
              "input_width": 320, "min_depth": 0.001, "max_depth": 1000.0,
              "publish_points": False, "publish_colorized": False, "input_qos": "reliable"}
    remaps = {"image": TOPICS["left"], "camera_info": TOPICS["left_info"],
              "aux/image": TOPICS["right"], "aux/camera_info": TOPICS["right_info"]}
    with NodeProcess(tmp_path / "node.log", "live", params, remaps,
                     env={**ros_env(DOMAIN), "OMP_NUM_THREADS": "1"}) as node:
        # 8x the recorded 10 Hz: faster than the node runs on these cores, so it drops frames
        live = subprocess.run([*common, "--live", "--play", "--rate", "8", "--depth-topic",
                               "/live/depth/image", "--settle", "3", "--wait", "120", "--out",
                               str(tmp_path / "live")], env=env, cwd=REPO,
                              capture_output=True, text=True, timeout=300)
        assert live.returncode == 0, f"{live.stderr}\nnode log:\n{node.log()[-3000:]}"
    res = json.loads((tmp_path / "live" / "metrics.json").read_text())
    f = res["frames"]
    assert f["expected"] == FRAMES
    assert f["dropped"] == FRAMES - f["evaluated"] == len(f["dropped_indices"])
    assert f["dropped"] > 0 and f["evaluated"] > 0, f
    published = {r["index"] for r in res["per_frame"]}
    assert published.isdisjoint(f["dropped_indices"])
    assert f"{f['dropped']} dropped by the node" in live.stdout
    # what the node published is what the runtime gives offline for those frames: stereo, or
    # mono where the node had no aux partner for the frame (its documented fallback)
    stereo, mono = _offline(bag, ckpt, stereo=True), _offline(bag, ckpt, stereo=False)
    for row in res["per_frame"]:
        candidates = (stereo[row["index"]], mono[row["index"]])
        assert any(row["abs_rel"] == pytest.approx(c["abs_rel"], rel=1e-5)
                   and row["rmse"] == pytest.approx(c["rmse"], rel=1e-5) for c in candidates)
        assert row["latency_ms"] is None or row["latency_ms"] > 0
    assert res["latency"]["frames"] >= 1
    md = (tmp_path / "live" / "metrics.md").read_text()
    assert "| node (live) |" in md and "dropped" in md
