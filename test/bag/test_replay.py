"""``iid-rdepth replay``: the recorded CDR bytes over DDS at the recorded rate (rclpy)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ros_node_harness import REPO, free_domain, ros_context, ros_env

from iid_rdepth_ros.bag import messages as m
from iid_rdepth_ros.bag.io import open_bag
from iid_rdepth_ros.bag.messages import deserialize
from iid_rdepth_ros.bag.synth_bag import TOPICS, write_synth_bag
from iid_rdepth_ros.cli.main import main

pytest.importorskip("rclpy")
DOMAIN = free_domain(65)
FRAMES = 6
RATE = 0.5  # the 0.5 s recorded span plays in 1 s


def test_replay_publishes_recorded_bytes(tmp_path: Path) -> None:
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, Image

    bag = write_synth_bag(tmp_path / "bag", FRAMES, 8, 64, 160, progress=False).path
    with open_bag(bag) as b:
        recorded = {t: [raw for _, _, raw in b.raw([t])]
                    for t in (TOPICS["left"], TOPICS["left_info"])}
    got: dict[str, list[tuple[float, bytes]]] = {"/renamed/image": [], TOPICS["left_info"]: []}
    with ros_context(DOMAIN) as context:
        import rclpy

        node = rclpy.create_node("replay_listener", context=context)
        qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        for topic, mtype in (("/renamed/image", Image), (TOPICS["left_info"], CameraInfo)):
            node.create_subscription(
                mtype, topic, lambda raw, t=topic: got[t].append((time.monotonic(), raw)),
                qos, raw=True)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        proc = subprocess.Popen(
            [sys.executable, "-m", "iid_rdepth_ros.cli.main", "replay", str(bag), "--rate",
             str(RATE), "--topics", TOPICS["left"], TOPICS["left_info"], TOPICS["tf"],
             "--remap", f"{TOPICS['left']}:=/renamed/image", "--wait-for", TOPICS["left_info"],
             "--wait-for", f"{TOPICS['left']}", "--delay", "1.0", "--no-progress"],
            cwd=REPO, env=dict(os.environ, **ros_env(DOMAIN)), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        end = time.monotonic() + 90
        done_at = None
        while time.monotonic() < end:
            executor.spin_once(timeout_sec=0.05)
            if sum(map(len, got.values())) >= 2 * FRAMES:
                break
            if proc.poll() is not None:  # finished: whatever is still in flight, 2 s more
                done_at = done_at or time.monotonic()
                if time.monotonic() - done_at > 2.0:
                    break
        out, err = proc.communicate(timeout=30)
        executor.shutdown()
        node.destroy_node()
    assert proc.returncode == 0, err
    assert f"{TOPICS['left']}: {FRAMES}" in out
    assert [raw for _, raw in got["/renamed/image"]] == recorded[TOPICS["left"]]
    # CameraInfo: the same message (DDS may pad the tail of a serialised sample differently)
    infos = [deserialize(raw, m.CAMERA_INFO) for _, raw in got[TOPICS["left_info"]]]
    want = [deserialize(raw, m.CAMERA_INFO) for raw in recorded[TOPICS["left_info"]]]
    assert [m.stamp_ns(i) for i in infos] == [m.stamp_ns(i) for i in want]
    for a, b in zip(infos, want, strict=True):
        assert list(a.p) == list(b.p) and list(a.k) == list(b.k) and a.width == b.width
    # paced at the recorded rate / RATE: by the replay's own clock, and (loosely, this
    # process may be starved of CPU) by the arrival times here
    expected = (FRAMES - 1) * 0.1 / RATE
    took = float(re.search(r"in ([0-9.]+) s \(bag span ([0-9.]+) s", out).group(1))
    assert expected * 0.95 < took < expected + 2.0, out
    arrivals = [t for t, _ in got["/renamed/image"]]
    assert expected * 0.3 < arrivals[-1] - arrivals[0] < expected + 5.0
    tf_ok = any("tf2_msgs" in name for name in sys.modules) or _has_tf2()
    assert (f"{TOPICS['tf']}: 1" in out) if tf_ok else (f"skipped {TOPICS['tf']}" in out)


def _has_tf2() -> bool:
    try:
        import tf2_msgs.msg  # noqa: F401
    except ImportError:
        return False
    return True


def test_replay_user_errors(tmp_path: Path, capsys) -> None:
    bag = write_synth_bag(tmp_path / "bag", 1, 8, 64, 160, progress=False).path
    assert main(["replay", str(bag), "--topics", "/nope"]) == 2
    err = capsys.readouterr().err
    assert "no topic(s) /nope" in err and len(err.strip().splitlines()) == 1
    assert main(["replay", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["replay", str(bag), "--rate", "0"]) == 2
    assert main(["replay", str(bag), "--remap", "/a=/b"]) == 2
    assert ":=" in capsys.readouterr().err
