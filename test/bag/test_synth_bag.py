"""synth-street drives as rosbag2: round trip through both storages, and the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from iid_rdepth_ros.bag import messages as m
from iid_rdepth_ros.bag.frames import decode_depth, decode_rgb, read_tf_static
from iid_rdepth_ros.bag.io import open_bag
from iid_rdepth_ros.bag.synth_bag import (
    LEFT,
    LIDAR,
    START_NS,
    TOPICS,
    mounting,
    write_synth_bag,
)
from iid_rdepth_ros.bag.transforms import transform_points
from iid_rdepth_ros.cli.main import main
from iid_rdepth_ros.geometry import backproject
from iid_rdepth_ros.synth import SynthStreet

H, W, FRAMES, SEED = 64, 160, 3, 11


@pytest.fixture(scope="module")
def street() -> SynthStreet:
    return SynthStreet(SEED, height=H, width=W)


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_round_trip(tmp_path: Path, storage: str, street: SynthStreet) -> None:
    summary = write_synth_bag(tmp_path / "bag", FRAMES, SEED, H, W, storage=storage,
                              progress=False)
    assert summary.frames == FRAMES and summary.storage == storage
    suffix = ".mcap" if storage == "mcap" else ".db3"
    assert any(p.suffix == suffix for p in (tmp_path / "bag").iterdir())
    with open_bag(tmp_path / "bag") as bag:
        assert bag.topics == {
            TOPICS["left"]: m.IMAGE, TOPICS["right"]: m.IMAGE, TOPICS["depth"]: m.IMAGE,
            TOPICS["left_info"]: m.CAMERA_INFO, TOPICS["right_info"]: m.CAMERA_INFO,
            TOPICS["points"]: m.POINT_CLOUD2, TOPICS["tf"]: m.TF_MESSAGE}
        counts = bag.counts
        assert counts[TOPICS["tf"]] == 1
        assert all(counts[TOPICS[k]] == FRAMES for k in TOPICS if k != "tf")
        tree = read_tf_static(bag)
        got: dict[str, list] = {}
        for topic, logtime, msg in bag.messages([t for k, t in TOPICS.items() if k != "tf"]):
            if topic != TOPICS["tf"]:
                assert logtime == m.stamp_ns(msg)  # log time = header stamp
            got.setdefault(topic, []).append(msg)
    mount = mounting(street.baseline_m)
    np.testing.assert_allclose(tree.lookup(LIDAR, LEFT),
                               np.linalg.inv(mount[LIDAR]) @ mount[LEFT], atol=1e-9)
    for i in range(FRAMES):
        f = street.frame(i)
        stamp = START_NS + i * 100_000_000
        left, right = got[TOPICS["left"]][i], got[TOPICS["right"]][i]
        assert m.stamp_ns(left) == stamp and left.header.frame_id == LEFT
        np.testing.assert_array_equal(decode_rgb(left), f["left"])
        np.testing.assert_array_equal(decode_rgb(right), f["right"])
        np.testing.assert_array_equal(decode_depth(got[TOPICS["depth"]][i]), f["depth"])
        info, rinfo = got[TOPICS["left_info"]][i], got[TOPICS["right_info"]][i]
        assert (info.height, info.width) == (H, W)
        assert info.p[0] == pytest.approx(f["fx"]) and info.p[3] == 0.0
        assert rinfo.p[3] == pytest.approx(-f["fx"] * f["baseline_m"])
        # the cloud is in the lidar frame: moved back into the camera it is the sparse truth
        cloud = got[TOPICS["points"]][i]
        assert cloud.header.frame_id == LIDAR
        pts = m.cloud_points(cloud)
        cam = backproject(f["lidar"], f["fx"], f["fy"], f["cx"], f["cy"])
        expected = cam[np.isfinite(cam[..., 2]) & (cam[..., 2] > 0)]
        assert len(pts) == len(expected) > 50
        assert np.abs(pts - expected).max() > 0.1  # a non-trivial mounting
        np.testing.assert_allclose(transform_points(tree.lookup(LEFT, LIDAR), pts), expected,
                                   atol=1e-4)


def test_synth_cli_writes_bag(tmp_path: Path, capsys) -> None:
    out = tmp_path / "drive"
    args = ["synth", "--bag", str(out), "--format", "sqlite3", "--frames", "2", "--seed", "4",
            "--height", "64", "--width", "160", "--no-progress"]
    assert main(args) == 0
    assert "sqlite3 rosbag2 of 2 frames" in capsys.readouterr().out
    with open_bag(out) as bag:
        assert bag.counts[TOPICS["left"]] == 2
    assert main(args) == 2  # exists: refuses
    assert "exists" in capsys.readouterr().err
    assert main(args + ["--overwrite"]) == 0
    # --bag and --out exclude each other (a usage error: main returns 2)
    assert main(["synth", "--bag", str(tmp_path / "x"), "--out", str(tmp_path / "y")]) == 2
