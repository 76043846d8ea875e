"""``iid-rdepth eval-bag`` offline: same metrics as ``evaluate``, LiDAR ground truth agrees with
the sparse truth, and broken bags end with one clear line (exit 2)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from iid_rdepth_ros.bag import messages as m
from iid_rdepth_ros.bag.synth_bag import TOPICS, write_drive_bag
from iid_rdepth_ros.cli.main import main
from iid_rdepth_ros.evaluation.metrics import METRIC_KEYS, compute_metrics
from iid_rdepth_ros.synth import SynthStreetDataset

torch.set_num_threads(1)
TOPIC_ARGS = ["--image-topic", TOPICS["left"], "--camera-info-topic", TOPICS["left_info"]]
STEREO_ARGS = ["--aux-image-topic", TOPICS["right"], "--aux-camera-info-topic",
               TOPICS["right_info"]]


@pytest.fixture(scope="module")
def setup(tmp_path_factory, untrained_checkpoint: Path, tiny_synth: Path) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("evalbag")
    ckpt, data = untrained_checkpoint, tiny_synth
    ds = SynthStreetDataset(data)

    def frames():
        for i in range(len(ds)):
            item = ds[i]
            yield {"left": item["image"], "right": item["aux"], "depth": item["depth"],
                   "lidar": item["lidar"], "fx": item["fx"], "fy": item["fy"], "cx": item["cx"],
                   "cy": item["cy"], "baseline_m": item["baseline_m"],
                   "stamp_ns": ds.records[i]["stamp_ns"]}

    # the bag holds exactly the frames of the synth-street directory
    write_drive_bag(root / "bag", frames(), len(ds), float(ds.meta["baseline_m"]),
                    storage="sqlite3", progress=False)
    return {"root": root, "ckpt": ckpt.with_suffix(".safetensors"), "data": data,
            "bag": root / "bag"}


def _eval_bag(setup: dict[str, Path], out: str, *extra: str) -> dict:
    rc = main(["eval-bag", str(setup["bag"]), *TOPIC_ARGS, "--model", str(setup["ckpt"]),
               "--backend", "torch", "--threads", "1", "--no-progress", "--out",
               str(setup["root"] / out), *extra])
    assert rc == 0
    return json.loads((setup["root"] / out / "metrics.json").read_text())


def test_offline_equals_evaluate(setup: dict[str, Path]) -> None:
    ref_path = setup["root"] / "evaluate.json"
    assert main(["evaluate", "--model", str(setup["ckpt"]), "--data", str(setup["data"]),
                 "--backend", "torch", "--threads", "1", "--no-progress",
                 "--json", str(ref_path)]) == 0
    ref = json.loads(ref_path.read_text())
    res = _eval_bag(setup, "dense", *STEREO_ARGS, "--gt-depth-topic", TOPICS["depth"],
                    "--plot-frames", "2")
    assert res["frames"]["evaluated"] == 3 and res["frames"]["stereo"] == 3
    assert ref["aux_engaged"] is True
    for key in METRIC_KEYS:
        assert res["metrics"][key] == pytest.approx(ref[key], rel=1e-6), key
    for mine, theirs in zip(res["per_frame"], ref["per_frame"], strict=True):
        assert mine["index"] == theirs["index"]
        for key in METRIC_KEYS:
            assert mine[key] == pytest.approx(theirs[key], rel=1e-6), key
    assert res["latency"]["frames"] == 3 and res["latency"]["p50_ms"] > 0
    md = (setup["root"] / "dense" / "metrics.md").read_text()
    assert "| torch (offline) |" in md and "p95 ms" in md
    for name in ("sequence.png", "frames/frame_000000.png", "frames/frame_000002.png"):
        assert (setup["root"] / "dense" / name).is_file(), name
    assert list((setup["root"] / "dense").glob("cloud_*.ply"))


def test_lidar_ground_truth_matches_sparse_truth(setup: dict[str, Path]) -> None:
    """Projected LiDAR (via /tf_static + CameraInfo) scores like the sparse map it came from."""
    from iid_rdepth_ros.export.open_runner import open_runner
    from iid_rdepth_ros.runtime import Intrinsics, RunnerConfig

    res = _eval_bag(setup, "lidar", "--gt-points-topic", TOPICS["points"], "--plot-frames", "0")
    assert "/tf_static" in res["ground_truth"]
    ds = SynthStreetDataset(setup["data"])
    tiny, huge = float(np.finfo(np.float32).tiny), float(np.finfo(np.float32).max)
    config = RunnerConfig(backend="torch", model_path=str(setup["ckpt"]), input_height=96,
                          input_width=320, min_depth=tiny, max_depth=huge, device="cpu",
                          num_threads=1)
    with open_runner(config) as runner:
        for row in res["per_frame"]:
            item = ds[row["index"]]
            pred = runner.infer(item["image"], intrinsics=Intrinsics(
                item["fx"], item["fy"], item["cx"], item["cy"]))  # mono: no aux topics given
            expected = compute_metrics(pred, item["lidar"])
            assert row["pixels"] == expected["pixels"] > 100
            for key in METRIC_KEYS:
                assert row[key] == pytest.approx(expected[key], rel=1e-4), key


def _fails(capsys, bag: Path, *args: str) -> str:
    rc = main(["eval-bag", str(bag), *args, "--no-progress", "--backend", "torch", "--out",
               str(bag.parent / "out_fail")])
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("iid-rdepth eval-bag: error: ")
    return err


def test_broken_bags_fail_cleanly(setup: dict[str, Path], tmp_path: Path, capsys) -> None:
    gt = ["--gt-depth-topic", TOPICS["depth"], "--model", str(setup["ckpt"])]
    # truncated: a copy cut in half
    cut = tmp_path / "cut"
    shutil.copytree(setup["bag"], cut)
    db = next(cut.glob("*.db3"))
    db.write_bytes(db.read_bytes()[: db.stat().st_size // 2])
    assert "truncated or corrupt" in _fails(capsys, cut, *TOPIC_ARGS, *gt)
    # corrupt: garbage in the middle of the database
    bad = tmp_path / "bad"
    shutil.copytree(setup["bag"], bad)
    db = next(bad.glob("*.db3"))
    raw = bytearray(db.read_bytes())
    raw[len(raw) // 3: len(raw) // 3 + 20000] = os.urandom(20000)
    db.write_bytes(bytes(raw))
    assert "corrupt" in _fails(capsys, bad, *TOPIC_ARGS, *gt)
    # no metadata.yaml, and a path that does not exist
    nometa = tmp_path / "nometa"
    shutil.copytree(setup["bag"], nometa)
    (nometa / "metadata.yaml").unlink()
    assert "metadata.yaml" in _fails(capsys, nometa, *TOPIC_ARGS, *gt)
    assert "does not exist" in _fails(capsys, tmp_path / "nope", *TOPIC_ARGS, *gt)
    # a topic that is not in the bag
    err = _fails(capsys, setup["bag"], *TOPIC_ARGS, "--gt-depth-topic", "/no/such/depth",
                 "--model", str(setup["ckpt"]))
    assert "no topic /no/such/depth" in err and TOPICS["depth"] in err


def test_bag_without_camera_info(tmp_path: Path, capsys) -> None:
    from rosbags.rosbag2 import Writer

    bag = tmp_path / "noinfo"
    with Writer(bag, version=9) as writer:
        conn = writer.add_connection("/cam/image", m.IMAGE, typestore=m.typestore())
        depth = writer.add_connection("/cam/depth", m.IMAGE, typestore=m.typestore())
        for i in range(2):
            writer.write(conn, i, m.serialize(m.image(np.zeros((32, 64, 3), np.uint8), "rgb8",
                                                      i, "cam")))
            writer.write(depth, i, m.serialize(m.image(np.ones((32, 64), np.float32), "32FC1",
                                                       i, "cam")))
    err = _fails(capsys, bag, "--image-topic", "/cam/image", "--camera-info-topic",
                 "/cam/camera_info", "--gt-depth-topic", "/cam/depth")
    assert "no topic /cam/camera_info (camera_info)" in err
    # a camera_info topic given as the image's: wrong type, said so
    err = _fails(capsys, bag, "--image-topic", "/cam/image", "--camera-info-topic",
                 "/cam/depth", "--gt-depth-topic", "/cam/depth")
    assert "expected sensor_msgs/msg/CameraInfo" in err
