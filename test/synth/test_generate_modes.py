"""synth-street/2 on disk: what the new modes write, read back exactly, the same bytes for any
number of worker processes, and clear errors for broken directories."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from iid_rdepth_ros.synth import (
    FORMAT,
    FORMAT_V2,
    CameraOverride,
    SynthStreet,
    SynthStreetDataset,
    generate,
    get_mode,
)
from iid_rdepth_ros.synth.occlusion import NO_DEPTH, VISIBLE
from iid_rdepth_ros.synth.photometric import ViewPhotometry

N, SEQ = 6, 2


@pytest.fixture(scope="module")
def mixed_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth2") / "mixed"
    summary = generate(out, N, seed=3, sequence_length=SEQ, progress=False,
                       config=get_mode("test-mixed"))
    assert summary.format == FORMAT_V2 and summary.frames == N
    return out


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_meta_and_records_describe_every_frame(mixed_dir):
    meta = json.loads((mixed_dir / "meta.json").read_text())
    assert meta["format"] == "synth-street/2" and meta["mode"] == "test-mixed"
    assert meta["config"]["seed_salt"] == 2 and meta["camera_override"] is None
    records = [json.loads(x) for x in (mixed_dir / "frames.jsonl").read_text().splitlines()]
    sizes = {(r["height"], r["width"]) for r in records}
    assert meta["sizes"] == sorted([list(s) for s in sizes])
    if len(sizes) > 1:
        assert meta["height"] is None and meta["width"] is None
    for r in records:
        p_right = np.array(r["P_right"])
        assert p_right.shape == (3, 4)
        assert p_right[0, 3] == pytest.approx(-r["fx"] * r["baseline_m"])
        assert p_right[0, 2] == r["cx_right"] and p_right[1, 2] == r["cy_right"]
        assert abs(r["right_dy_px"]) <= 0.5 and r["scene_kind"] in ("street", "room",
                                                                    "corridor", "floating")
        assert set(r["photometric"]) == {"left", "right"}
    for sub, ext in (("left", "png"), ("right", "png"), ("depth", "tiff"), ("lidar", "tiff"),
                     ("occlusion", "png")):
        assert sorted(p.name for p in (mixed_dir / sub).iterdir()) == [
            f"{i:06d}.{ext}" for i in range(N)]


def test_reader_gives_exactly_the_rendered_frames(mixed_dir):
    ds = SynthStreetDataset(mixed_dir)
    street = SynthStreet(3, sequence_length=SEQ, config=get_mode("test-mixed"))
    assert ds.format == FORMAT_V2 and len(ds) == N
    for i in range(N):
        item, f = ds[i], street.frame(i)
        assert np.array_equal(item["image"], f["left"]) and np.array_equal(item["aux"],
                                                                           f["right"])
        assert item["depth"].dtype == np.float32
        assert np.array_equal(item["depth"], f["depth"])  # exact: float32 TIFF
        assert np.array_equal(item["lidar"], f["lidar"])
        assert np.array_equal(item["occlusion"], f["occlusion"])
        assert ds.camera(i) == f["camera"]
        rec = ds.records[i]
        assert ViewPhotometry.from_json(rec["photometric"]["right"]) == f["photometric"]["right"]
        assert (item["fx"], item["baseline_m"]) == (f["fx"], f["baseline_m"])
        assert np.all((item["occlusion"] == NO_DEPTH) == (item["depth"] == 0))
        assert (item["occlusion"] == VISIBLE).mean() > 0.5


def test_workers_write_the_same_bytes(tmp_path):
    kw = dict(config=get_mode("geometry"), sequence_length=3,
              camera=CameraOverride(height=48, width=96), progress=False)
    one = generate(tmp_path / "one", 7, seed=1, **kw)
    two = generate(tmp_path / "two", 7, seed=1, workers=2, **kw)
    assert (one.workers, two.workers) == (1, 2)
    assert _files(tmp_path / "one") == _files(tmp_path / "two")
    assert one.lidar_coverage == pytest.approx(two.lidar_coverage)
    with pytest.raises(ValueError, match="workers"):
        generate(tmp_path / "three", 2, seed=1, workers=0, **kw)


def test_street_mode_still_writes_format_1_and_overwrite_switches_formats(tmp_path):
    out = tmp_path / "d"
    generate(out, 2, seed=1, height=32, width=64, sequence_length=2, progress=False,
             config=get_mode("geometry"), camera=CameraOverride(height=32, width=64))
    assert SynthStreetDataset(out).format == FORMAT_V2
    summary = generate(out, 2, seed=1, height=32, width=64, sequence_length=2, progress=False,
                       overwrite=True)
    assert summary.format == FORMAT
    ds = SynthStreetDataset(out)
    assert ds.format == FORMAT and "occlusion" not in ds[0]
    assert not (out / "occlusion").exists() and not list((out / "depth").glob("*.tiff"))
    # A camera override of the street mode is another camera: format 2, same streets.
    generate(tmp_path / "f", 1, seed=1, height=32, width=64, progress=False,
             camera=CameraOverride(focal_px=40.0, baseline_m=0.2))
    f = SynthStreetDataset(tmp_path / "f")
    assert f.format == FORMAT_V2 and f.camera(0).fx == 40.0 and f.camera(0).baseline_m == 0.2


def test_reader_rejects_broken_format_2_directories(mixed_dir, tmp_path):
    d = tmp_path / "missing"
    shutil.copytree(mixed_dir, d)
    (d / "occlusion" / "000001.png").unlink()
    with pytest.raises(ValueError, match="occlusion"):
        SynthStreetDataset(d)
    d = tmp_path / "keys"
    shutil.copytree(mixed_dir, d)
    lines = (d / "frames.jsonl").read_text().splitlines()
    rec = json.loads(lines[0])
    del rec["P_right"]
    (d / "frames.jsonl").write_text("\n".join([json.dumps(rec)] + lines[1:]) + "\n")
    with pytest.raises(ValueError, match="P_right"):
        SynthStreetDataset(d)
    d = tmp_path / "png_depth"
    shutil.copytree(mixed_dir, d)
    (d / "depth" / "000002.tiff").write_bytes((d / "occlusion" / "000002.png").read_bytes())
    with pytest.raises(ValueError, match="float32"):
        SynthStreetDataset(d)[2]
