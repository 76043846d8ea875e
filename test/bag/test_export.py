"""``iid-rdepth bag-export``: LiDAR projected through /tf_static (and /tf) against golden
pixels, the time split without leakage, a round trip through the folder reader, and bags that
cannot be exported ending with one clear line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from iid_rdepth_ros.bag import messages as m
from iid_rdepth_ros.bag.export import encode_depth, time_split
from iid_rdepth_ros.bag.frames import decode_rgb
from iid_rdepth_ros.bag.io import open_bag
from iid_rdepth_ros.bag.synth_bag import TOPICS, scale_and_crop, write_synth_bag
from iid_rdepth_ros.bag.transforms import euler_matrix, make_transform
from iid_rdepth_ros.cli.main import main
from iid_rdepth_ros.datasets.folder import FolderDataset
from iid_rdepth_ros.synth import SynthStreet

torch.set_num_threads(1)
MAIN = ["--image-topic", TOPICS["left"], "--camera-info-topic", TOPICS["left_info"]]
AUX = ["--aux-image-topic", TOPICS["right"], "--aux-camera-info-topic", TOPICS["right_info"]]
LIDAR = ["--gt-points-topic", TOPICS["points"]]

# -- golden projection ------------------------------------------------------------------------
H, W, FX, FY, CX, CY = 40, 60, 50.0, 50.0, 30.0, 20.0
T0 = 1_700_000_000_000_000_000
OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])  # base <- optical
BASE_CAM = make_transform(OPTICAL, (0.1, 0.0, 1.0))
YAW90 = euler_matrix(0.0, 0.0, np.pi / 2)
#: camera-frame points -> (row, col, depth) they must land on
POINTS_CAM = np.array([
    [0.0, 0.0, 2.0],     # centre -> (20, 30), 2 m
    [0.4, 0.24, 4.0],    # u = 50 * 0.1 + 30 = 35, v = 50 * 0.06 + 20 = 23
    [0.0, 0.0, 3.0],     # behind the first on its pixel: the nearer (2 m) wins
    [2.0, 0.0, 1.0],     # u = 130: outside the image
    [0.0, 0.0, -1.0],    # behind the camera
    [-1.16, -0.79, 2.0],  # u = -29 + 30 = 1, v = -19.75 + 20 = 0.25 -> (0, 1)
])
GOLDEN = {(20, 30): 2.0, (23, 35): 4.0, (0, 1): 2.0}


def _base_lidar(x: float) -> np.ndarray:
    """``T_base_lidar``: yawed 90 deg, 1.5 m up, ``x`` m forward."""
    return make_transform(YAW90, (x, 0.0, 1.5))


def _write_golden_bag(path: Path, dynamic: bool) -> None:
    """Three frames at 10 Hz; the LiDAR mount on /tf_static, or (``dynamic``) only on /tf as
    two samples 0.4 s apart between which it slides 0.4 m forward (the frame at +0.2 s sees
    the mid-way mount; the frame at +5 s is outside the /tf recording)."""
    from rosbags.rosbag2 import Writer

    ts = m.typestore()
    with Writer(path, version=9) as w:
        conn = {"image": w.add_connection("/cam/image", m.IMAGE, typestore=ts),
                "info": w.add_connection("/cam/camera_info", m.CAMERA_INFO, typestore=ts),
                "points": w.add_connection("/lidar/points", m.POINT_CLOUD2, typestore=ts),
                "tf_static": w.add_connection("/tf_static", m.TF_MESSAGE, typestore=ts)}
        static = [("base_link", "cam", BASE_CAM)]
        if dynamic:
            conn["tf"] = w.add_connection("/tf", m.TF_MESSAGE, typestore=ts)
            for k, x in ((0, -0.2), (4, 0.2)):
                stamp = T0 + k * 100_000_000
                w.write(conn["tf"], stamp, m.serialize(m.tf_message(
                    [("base_link", "lidar", _base_lidar(x))], stamp)))
        else:
            static.append(("base_link", "lidar", _base_lidar(0.0)))
        w.write(conn["tf_static"], T0, m.serialize(m.tf_message(static, T0)))
        rng = np.random.default_rng(0)
        for k in (0, 2, 50):
            stamp = T0 + k * 100_000_000
            x = -0.2 + 0.4 * k / 4 if dynamic else 0.0  # the mount at this stamp
            lidar_from_cam = np.linalg.inv(_base_lidar(x)) @ BASE_CAM
            pts = POINTS_CAM @ lidar_from_cam[:3, :3].T + lidar_from_cam[:3, 3]
            image = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
            w.write(conn["info"], stamp, m.serialize(m.camera_info((H, W), FX, FY, CX, CY, stamp,
                                                                   "cam")))
            w.write(conn["points"], stamp, m.serialize(m.point_cloud(pts, stamp, "lidar")))
            w.write(conn["image"], stamp, m.serialize(m.image(image, "rgb8", stamp, "cam")))


def _export(bag: Path, out: Path, *extra: str) -> int:
    return main(["bag-export", str(bag), "--image-topic", "/cam/image", "--camera-info-topic",
                 "/cam/camera_info", "--gt-points-topic", "/lidar/points", "--out", str(out),
                 "--no-progress", *extra])


@pytest.mark.parametrize("dynamic", [False, True], ids=["tf_static", "tf"])
def test_lidar_projection_golden(tmp_path: Path, dynamic: bool, capsys) -> None:
    bag = tmp_path / "bag"
    _write_golden_bag(bag, dynamic)
    assert _export(bag, tmp_path / "npy", "--depth-format", "npy", "--val-fraction", "0") == 0
    record = json.loads((tmp_path / "npy" / "export.json").read_text())
    names = (tmp_path / "npy" / "train.txt").read_text().split()
    if dynamic:  # frame 50 (+5 s) is far outside the two /tf samples: skipped, said why
        assert names == ["000000", "000001"]
        assert record["skipped"] == {"no /tf transform at the image stamp": 1}
        assert "and /tf (where /tf_static does not link" in record["ground_truth"]
    else:
        assert names == ["000000", "000001", "000002"]
        assert record["skipped"] == {}
    expected = np.zeros((H, W), np.float32)
    for (row, col), z in GOLDEN.items():
        expected[row, col] = z
    for name in names:
        depth = np.load(tmp_path / "npy" / "depth" / f"{name}.npy")
        np.testing.assert_allclose(depth, expected, atol=1e-5)
    # the same frames as 16-bit millimetre PNGs, through the folder reader
    assert _export(bag, tmp_path / "png", "--val-fraction", "0") == 0
    ds = FolderDataset(tmp_path / "png", "train")
    assert ds.intrinsics["fx"] == FX and (ds.intrinsics["cx"], ds.intrinsics["cy"]) == (CX, CY)
    np.testing.assert_allclose(ds[0]["depth"], expected, atol=5e-4)
    assert "ground truth" in capsys.readouterr().out


def test_depth_encoding_never_writes_a_wrong_value() -> None:
    depth = np.array([[0.0, 0.0004, 0.0006, 1.2344, 65.535, 65.6, np.nan]], np.float32)
    mm, over = encode_depth(depth, "mm")
    np.testing.assert_array_equal(mm, [[0, 0, 1, 1234, 65535, 0, 0]])
    assert over == 1  # beyond 65.535 m: written as "no measurement", counted
    k256, over = encode_depth(np.array([[65.6, 255.99]]), "1/256")
    assert over == 0 and k256.tolist() == [[16794, 65533]]


# -- the time split -----------------------------------------------------------------------------
def test_time_split_rule() -> None:
    s = 1_000_000_000
    offsets = [int(0.1 * i * s) for i in range(30)]  # 10 Hz, 0 .. 2.9 s
    labels, start = time_split(offsets, 0.3, 0.5)
    assert start == int(2.9 * s) - int(round(0.3 * 2.9 * s))  # 2.03 s
    assert labels == ["train"] * 16 + ["gap"] * 5 + ["val"] * 9
    assert time_split(offsets, 0.0, 0.5) == (["train"] * 30, None)
    # irregular stamps (a dropped second): the cut is in time, not in frames
    odd = [0, s // 10, 2 * s // 10, 3 * s, 31 * s // 10, 32 * s // 10]
    assert time_split(odd, 0.25, 0.0)[0] == ["train"] * 3 + ["val"] * 3


@pytest.fixture(scope="module")
def drive(tmp_path_factory) -> dict[str, Path]:
    """A 30-frame stereo 'miniature street' (scene x0.1, centre crop 48x120 of 64x160)."""
    root = tmp_path_factory.mktemp("export")
    write_synth_bag(root / "bag", 30, seed=4, height=64, width=160, sequence_length=10,
                    storage="sqlite3", progress=False, scene_scale=0.1, crop=(48, 120))
    out = root / "data"
    assert main(["bag-export", str(root / "bag"), *MAIN, *AUX, *LIDAR, "--out", str(out),
                 "--val-fraction", "0.3", "--val-gap", "0.5", "--no-progress"]) == 0
    return {"root": root, "bag": root / "bag", "out": out}


def test_split_by_time_without_leakage(drive: dict[str, Path]) -> None:
    out = drive["out"]
    train = (out / "train.txt").read_text().split()
    val = (out / "val.txt").read_text().split()
    rows = {r.split(",")[0]: r.split(",") for r in (out / "frames.csv").read_text().split()[1:]}
    stamp = {name: int(row[2]) for name, row in rows.items()}
    assert not set(train) & set(val)
    assert len(train) == 16 and len(val) == 9 and len(rows) == 30  # 5 in the gap
    assert min(stamp[n] for n in val) - max(stamp[n] for n in train) > 0.5e9  # the gap
    assert val == sorted(rows)[-9:]  # one block at the end of the drive
    gap = sorted(set(rows) - set(train) - set(val))
    assert all(rows[n][3] == "gap" for n in gap) and len(gap) == 5
    record = json.loads((out / "export.json").read_text())
    assert record["frames"] == {"images": 30, "paired": 30, "written": 30, "train": 16,
                                "val": 9, "gap": 5, "camera_info_by_latest": 0}
    assert record["split"]["val_start_s"] == pytest.approx(2.03)


def test_held_out_part_is_what_eval_bag_scores(drive: dict[str, Path],
                                                untrained_checkpoint: Path) -> None:
    out = drive["root"] / "eval"
    assert main(["eval-bag", str(drive["bag"]), *MAIN, *LIDAR, "--held-out", str(drive["out"]),
                 "--model", str(untrained_checkpoint.with_suffix(".safetensors")), "--backend",
                 "torch", "--threads", "1", "--no-progress", "--plot-frames", "1", "--out",
                 str(out)]) == 0
    result = json.loads((out / "metrics.json").read_text())
    val = (drive["out"] / "val.txt").read_text().split()
    assert [f"{r['index']:06d}" for r in result["per_frame"]] == val
    assert result["window"]["start_s"] == pytest.approx(2.03)
    # any window: stamps 1.0 s <= t < 1.5 s after the first image
    assert main(["eval-bag", str(drive["bag"]), *MAIN, *LIDAR, "--start", "1.0", "--end", "1.5",
                 "--model", str(untrained_checkpoint.with_suffix(".safetensors")), "--backend",
                 "torch", "--threads", "1", "--no-progress", "--plot-frames", "0", "--out",
                 str(out)]) == 0
    result = json.loads((out / "metrics.json").read_text())
    assert [r["index"] for r in result["per_frame"]] == [10, 11, 12, 13, 14]


@pytest.mark.parametrize(("args", "message"), [
    (["--held-out", "DATA", "--start", "1"], "--held-out sets the window itself"),
    (["--start", "2", "--end", "1"], "must be after its start"),
    (["--start", "1", "--live"], "apply to the offline evaluation only"),
    (["--held-out", "NOWHERE"], "export.json not found"),
])
def test_eval_bag_window_errors(drive: dict[str, Path], capsys, args: list[str],
                                message: str) -> None:
    args = [str(drive["out"]) if a == "DATA" else a for a in args]
    rc = main(["eval-bag", str(drive["bag"]), *MAIN, *LIDAR, *args, "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and message in err, err


def test_round_trip_through_the_folder_reader(drive: dict[str, Path]) -> None:
    """What the exporter writes is what the bag holds: images, right images, intrinsics, and
    the LiDAR projected back onto the pixels it came from (mm rounding only)."""
    street = SynthStreet(4, height=64, width=160, sequence_length=10)
    for split in ("train", "val"):
        ds = FolderDataset(drive["out"], split)
        assert ds.stereo and ds.aux
        for i in (0, len(ds) - 1):
            item = ds[i]
            truth = scale_and_crop(street.frame(int(item["name"])), 0.1, (48, 120))
            np.testing.assert_array_equal(item["image"], truth["left"])
            np.testing.assert_array_equal(item["aux"], truth["right"])
            assert (item["depth"] > 0).sum() == (truth["lidar"] > 0).sum() > 100
            np.testing.assert_allclose(item["depth"], truth["lidar"], atol=5.01e-4)
            for key in ("fx", "fy", "cx", "cy", "baseline_m"):
                assert item[key] == pytest.approx(truth[key], rel=1e-9), key
    with open_bag(drive["bag"]) as bag:
        first = next(msg for _, _, msg in bag.messages([TOPICS["left"]]))
    np.testing.assert_array_equal(decode_rgb(first), FolderDataset(drive["out"], "all")[0]
                                  ["image"])


def test_every_and_max_frames(drive: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "thin"
    assert main(["bag-export", str(drive["bag"]), *MAIN, *LIDAR, "--out", str(out), "--every",
                 "3", "--max-frames", "6", "--val-fraction", "0.4", "--val-gap", "0",
                 "--depth-unit", "1/256", "--no-progress"]) == 0
    record = json.loads((out / "export.json").read_text())
    names = sorted(p.stem for p in (out / "images").iterdir())
    assert names == ["000000", "000003", "000006", "000009", "000012", "000015"]
    assert record["skipped"] == {"thinned (--every 3)": 10}
    assert not (out / "right").exists() and "baseline_m" not in (
        out / "intrinsics.yaml").read_text()
    assert (out / "val.txt").read_text().split() == ["000009", "000012", "000015"]  # >= 0.9 s


# -- bags that cannot be exported ---------------------------------------------------------------
def _fails(capsys, *args: str) -> str:
    try:
        rc = main(["bag-export", *args, "--no-progress"])
    except SystemExit as exc:  # argparse's usage errors
        rc = exc.code
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("iid-rdepth bag-export: error: ")
    return err


def test_unusable_bags_end_with_one_clear_error(drive: dict[str, Path], tmp_path: Path,
                                                capsys) -> None:
    from rosbags.rosbag2 import Writer

    bag = tmp_path / "no_info"
    with Writer(bag, version=9) as w:
        image = w.add_connection("/cam/image", m.IMAGE, typestore=m.typestore())
        for i in range(2):
            w.write(image, i, m.serialize(m.image(np.zeros((8, 8, 3), np.uint8), "rgb8", i,
                                                  "cam")))
    out = tmp_path / "out"
    err = _fails(capsys, str(bag), "--image-topic", "/cam/image", "--camera-info-topic",
                 "/cam/camera_info", "--gt-depth-topic", "/cam/depth", "--out", str(out))
    assert "no topic /cam/camera_info (camera_info)" in err
    err = _fails(capsys, str(drive["bag"]), *MAIN, "--gt-points-topic", "/velodyne_points",
                 "--out", str(out))
    assert "no topic /velodyne_points (ground-truth points)" in err and TOPICS["points"] in err
    err = _fails(capsys, str(drive["bag"]), *MAIN, "--out", str(out))  # no ground truth given
    assert "one of the arguments --gt-points-topic --gt-depth-topic is required" in err
    # a depth topic that is not in the bag (the drive's depth is there, a typo is not)
    err = _fails(capsys, str(drive["bag"]), *MAIN, "--gt-depth-topic", "/camera/depth",
                 "--out", str(out))
    assert "no topic /camera/depth (ground-truth depth)" in err
    # a topic of the wrong type as ground truth
    err = _fails(capsys, str(drive["bag"]), *MAIN, "--gt-depth-topic", TOPICS["left_info"],
                 "--out", str(out))
    assert "expected sensor_msgs/msg/Image" in err
    assert not out.exists() and not (tmp_path / ".out.partial").exists()
    # an output in the way is refused before the bag is read
    (out / "notes").mkdir(parents=True)
    err = _fails(capsys, str(tmp_path / "no_such_bag"), *MAIN, *LIDAR, "--out", str(out))
    assert "not empty and not an earlier bag-export" in err
    err = _fails(capsys, str(drive["bag"]), *MAIN, *LIDAR, "--out", str(drive["out"]))
    assert "--overwrite" in err


def test_no_frame_or_no_training_frame_is_an_error(tmp_path: Path, capsys) -> None:
    from rosbags.rosbag2 import Writer

    bag = tmp_path / "late_gt"  # the depth images are stamped 0.5 s after their images
    with Writer(bag, version=9) as w:
        conn = {"image": w.add_connection("/cam/image", m.IMAGE, typestore=m.typestore()),
                "info": w.add_connection("/cam/info", m.CAMERA_INFO, typestore=m.typestore()),
                "depth": w.add_connection("/cam/depth", m.IMAGE, typestore=m.typestore())}
        for k in range(3):
            stamp = T0 + k * 100_000_000
            w.write(conn["info"], stamp, m.serialize(m.camera_info((H, W), FX, FY, CX, CY,
                                                                   stamp, "cam")))
            w.write(conn["image"], stamp, m.serialize(m.image(np.zeros((H, W, 3), np.uint8),
                                                              "rgb8", stamp, "cam")))
            w.write(conn["depth"], stamp + 500_000_000, m.serialize(m.image(
                np.ones((H, W), np.float32), "32FC1", stamp + 500_000_000, "cam")))
    err = _fails(capsys, str(bag), "--image-topic", "/cam/image", "--camera-info-topic",
                 "/cam/info", "--gt-depth-topic", "/cam/depth", "--out", str(tmp_path / "o"))
    assert "no frame could be exported (3 images" in err
    assert "no ground truth within tolerance': 3" in err
    # frames at 0, 0.2 and 5 s: with a 5 s gap before the held-out part no training is left
    golden = tmp_path / "golden"
    _write_golden_bag(golden, dynamic=False)
    err = _fails(capsys, str(golden), "--image-topic", "/cam/image", "--camera-info-topic",
                 "/cam/camera_info", "--gt-points-topic", "/lidar/points", "--val-fraction",
                 "0.5", "--val-gap", "5", "--out", str(tmp_path / "o"))
    assert "fall in the held-out part or its gap" in err
    assert not (tmp_path / "o").exists()
