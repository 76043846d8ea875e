"""``iid-rdepth synth``: modes, camera overrides (one scene, two cameras), workers, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from iid_rdepth_ros.cli.main import main
from iid_rdepth_ros.cli.synth_cmd import MODE_NAMES
from iid_rdepth_ros.synth import MODES, SynthStreetDataset


def test_mode_names_are_the_generator_modes() -> None:
    assert set(MODE_NAMES) == set(MODES)


def test_street_mode_is_the_default_and_writes_format_1(tmp_path: Path, capsys) -> None:
    out = tmp_path / "street"
    assert main(["synth", "--out", str(out), "--frames", "2", "--height", "32", "--width", "64",
                 "--no-progress"]) == 0
    assert "synth-street/1, mode street" in capsys.readouterr().out
    meta = json.loads((out / "meta.json").read_text())
    assert (meta["format"], meta["height"], meta["width"]) == ("synth-street/1", 32, 64)


def test_same_scene_two_cameras_from_the_command_line(tmp_path: Path, capsys) -> None:
    common = ["synth", "--mode", "test-near", "--seed", "4", "--frames", "2",
              "--sequence-length", "2", "--no-progress"]
    a, b = tmp_path / "a", tmp_path / "b"
    assert main([*common, "--out", str(a), "--focal", "120", "--baseline", "0.1",
                 "--height", "90", "--width", "120"]) == 0
    assert main([*common, "--out", str(b), "--focal", "240", "--baseline", "0.2",
                 "--height", "90", "--width", "160", "--workers", "2"]) == 0
    assert "2 worker(s)" in capsys.readouterr().out
    da, db = SynthStreetDataset(a), SynthStreetDataset(b)
    assert da.meta["mode"] == db.meta["mode"] == "test-near"
    assert da.meta["camera_override"]["focal_px"] == 120.0
    ca, cb = da.camera(0), db.camera(0)
    assert (ca.fx, ca.baseline_m, ca.width, cb.fx, cb.baseline_m, cb.width) == (
        120.0, 0.1, 120, 240.0, 0.2, 160)
    for i in range(2):
        ra, rb = da.records[i], db.records[i]
        assert ra["scene_kind"] == rb["scene_kind"]
        assert ra["pose_world_from_cam"] == rb["pose_world_from_cam"]
        # Same scene: the centre pixel's ray is the same in both cameras when the principal
        # points sit at the same relative place, so the depth along it agrees.
        za = da[i]["depth"][int(round(ca.cy)), int(round(ca.cx))]
        zb = db[i]["depth"][int(round(cb.cy)), int(round(cb.cx))]
        assert za > 0 and abs(za - zb) / za < 0.05


def test_random_camera_mode_without_overrides(tmp_path: Path) -> None:
    out = tmp_path / "g"
    assert main(["synth", "--mode", "geometry", "--out", str(out), "--frames", "2",
                 "--sequence-length", "1", "--seed", "2", "--no-progress"]) == 0
    ds = SynthStreetDataset(out)
    assert ds.meta["config"]["name"] == "geometry" and ds.meta["camera_override"] is None
    assert all(np.asarray(ds[i]["image"]).shape[:2] == (ds.records[i]["height"],
                                                        ds.records[i]["width"])
               for i in range(2))


def _status(argv: list[str]) -> int:
    """main()'s exit status, also for argparse errors (which exit)."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code)


@pytest.mark.parametrize("args, words", [
    (["--mode", "geometry", "--bag", "BAG"], "--bag writes the street mode"),
    (["--focal", "300", "--bag", "BAG"], "--bag writes the street mode"),
    (["--mode", "test-near", "--height", "100", "--out", "OUT"], "both --height and --width"),
    (["--mode", "nope", "--out", "OUT"], "invalid choice"),
    (["--focal", "-3", "--out", "OUT"], "expected a number > 0"),
    (["--workers", "0", "--out", "OUT"], "positive integer"),
])
def test_bad_input_is_one_line_exit_2(tmp_path: Path, capsys, args, words) -> None:
    args = [str(tmp_path / a) if a in ("BAG", "OUT") else a for a in args]
    assert _status(["synth", "--frames", "1", *args]) == 2
    err = capsys.readouterr().err
    assert len([ln for ln in err.splitlines() if ln.strip()]) == 1 and words in err
    assert not (tmp_path / "OUT").exists() and not (tmp_path / "BAG").exists()
