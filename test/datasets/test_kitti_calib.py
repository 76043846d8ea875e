"""KITTI calibration parsing, velodyne projection (golden values) and split-file formats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from kitti_fixtures import BASELINE, DATE, write_calib

from iid_rdepth_ros.datasets.kitti_calib import (
    load_calib,
    project_velodyne,
    read_calib_file,
    read_velodyne,
)
from iid_rdepth_ros.datasets.splits import (
    KITTI_SPLITS,
    find_split,
    parse_kitti_line,
    read_kitti_split,
)


def test_calibration_files_in_kitti_text_format(tmp_path: Path) -> None:
    write_calib(tmp_path / DATE)
    entries = read_calib_file(tmp_path / DATE / "calib_cam_to_cam.txt")
    assert "calib_time" not in entries and entries["S_rect_02"].tolist() == [1242.0, 375.0]
    calib = load_calib(tmp_path / DATE)
    assert calib.intrinsics(2) == pytest.approx((721.5377, 721.5377, 609.5593, 172.854))
    assert calib.image_size[2] == (375, 1242)
    # baseline from the P_rect_02 / P_rect_03 difference: 384.38148 / 721.5377 = 0.53272 m
    assert calib.baseline() == pytest.approx(BASELINE, rel=1e-9)
    assert calib.baseline() == pytest.approx(0.53272, abs=1e-5)
    assert calib.velo_to_cam is not None and calib.velo_to_cam[2, 3] == pytest.approx(-0.2717806)
    bad = tmp_path / "bad.txt"
    bad.write_text("P_rect_02 1 2 3\n")
    with pytest.raises(ValueError, match="key: values"):
        read_calib_file(bad)


def test_velodyne_projection_golden_case() -> None:
    # Velodyne (x fwd, y left, z up) -> camera (x right, y down, z fwd), offset T; identity
    # rectification; P = [[100, 0, 50, 20], [0, 100, 20, 0], [0, 0, 1, 0]]; image 40 x 100.
    tr = np.array([[0, -1, 0, 0.1], [0, 0, -1, -0.2], [1, 0, 0, -0.3], [0, 0, 0, 1.0]])
    p = np.array([[100, 0, 50, 20], [0, 100, 20, 0], [0, 0, 1, 0.0]])
    points = np.array([
        [10.0, 1.0, 0.5, 0.9],   # cam (-0.9, -0.7, 9.7): u = 415/9.7 = 42.78, v = 12.78
        [10.2, 1.0, 0.5, 0.1],   # cam (-0.9, -0.7, 9.9): same pixel, farther -> dropped
        [5.0, 0.0, 0.0, 0.3],    # cam (0.1, -0.2, 4.7): u = 265/4.7 = 56.38, v = 15.74
        [10.3, 5.24, -0.2, 0.0],  # cam (-5.14, 0, 10): u = 0.6 -> column 0, v = 20
        [10.3, 5.26, -0.2, 0.0],  # u = 0.4 -> rounds to 0 -> column -1: outside
        [10.0, -8.0, 0.5, 0.0],  # u = 1315/9.7 = 135.6: right of the image
        [-5.0, 0.0, 0.0, 0.0],   # behind the scanner
    ])
    depth = project_velodyne(points, p @ tr, (40, 100))
    expected = {(12, 42): 9.7, (15, 55): 4.7, (19, 0): 10.0}  # (round(v) - 1, round(u) - 1)
    assert {tuple(map(int, rc)) for rc in np.argwhere(depth > 0)} == set(expected)
    for (r, c), z in expected.items():
        assert depth[r, c] == pytest.approx(z, abs=1e-5)
    # without the devkit's 1-based shift the same points land one pixel further
    shifted = project_velodyne(points, p @ tr, (40, 100), pixel_offset=0)
    assert shifted[13, 43] == pytest.approx(9.7, abs=1e-5) and shifted[12, 42] == 0


def test_velodyne_bin_format(tmp_path: Path) -> None:
    pts = np.arange(12, dtype=np.float32).reshape(3, 4)
    pts.tofile(tmp_path / "0000000000.bin")
    assert np.array_equal(read_velodyne(tmp_path / "0000000000.bin"), pts)
    np.arange(5, dtype=np.float32).tofile(tmp_path / "bad.bin")
    with pytest.raises(ValueError, match="multiple of 16"):
        read_velodyne(tmp_path / "bad.bin")


def test_split_line_formats() -> None:
    a = parse_kitti_line("2011_09_26/2011_09_26_drive_0002_sync 0000000069 l")
    b = parse_kitti_line("2011_09_26/2011_09_26_drive_0002_sync/image_02/data/0000000069.jpg "
                         "2011_09_26/2011_09_26_drive_0002_sync/image_03/data/0000000069.jpg")
    c = parse_kitti_line("2011_09_26/2011_09_26_drive_0002_sync/image_02/data/0000000069.png "
                         "2011_09_26_drive_0002_sync/proj_depth/groundtruth/image_02/"
                         "0000000069.png 721.5377")
    d = parse_kitti_line("2011_09_26/2011_09_26_drive_0002_sync/image_03/data/0000000070.png "
                         "None 721.5377")
    assert a == b == c
    assert (a.date, a.drive, a.frame, a.side, a.has_gt) == (
        "2011_09_26", "2011_09_26_drive_0002_sync", 69, "l", True)
    assert a.name == "2011_09_26_drive_0002_sync_image_02_0000000069"
    assert (d.side, d.frame, d.has_gt, d.camera) == ("r", 70, False, 3)
    assert parse_kitti_line("  # comment") is None and parse_kitti_line("") is None
    with pytest.raises(ValueError, match="KITTI drive"):
        parse_kitti_line("2011_09_26/not_a_drive 5 l")
    with pytest.raises(ValueError, match="side must be l or r"):
        parse_kitti_line("2011_09_26/2011_09_26_drive_0002_sync 5 x")


def test_named_split_lookup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IID_RDEPTH_SPLITS", str(tmp_path / "splits"))
    with pytest.raises(FileNotFoundError, match="eigen_test_files.txt"):
        find_split("kitti", "eigen", KITTI_SPLITS, tmp_path / "data")
    folder = tmp_path / "splits" / "kitti" / "eigen"
    folder.mkdir(parents=True)
    (folder / "test_files.txt").write_text(
        "2011_09_26/2011_09_26_drive_0002_sync 1 l\n" * 3)
    path, spec = find_split("kitti", "eigen", KITTI_SPLITS, tmp_path / "data")
    assert path == folder / "test_files.txt" and spec is not None and spec.frames == 697
    assert len(read_kitti_split(path)) == 3
    own = tmp_path / "mine.txt"
    own.write_text("2011_09_26/2011_09_26_drive_0002_sync 1 r\n")
    assert find_split("kitti", str(own), KITTI_SPLITS) == (own, None)
    with pytest.raises(FileNotFoundError, match="neither a known split"):
        find_split("kitti", str(tmp_path / "nope.txt"), KITTI_SPLITS)
