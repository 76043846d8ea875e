"""``iid-rdepth demo`` end to end on an untrained checkpoint (2 frames at 96x320)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import torch
from eval_fixtures import make_checkpoint
from iid_rdepth_ros.training.synth import SynthStreetDataset

from iid_rdepth_ros.cli.main import main
from iid_rdepth_ros.geometry import colorize_depth

torch.set_num_threads(1)


def _ply_vertices(path: Path) -> tuple[int, np.ndarray]:
    raw = path.read_bytes()
    end = raw.index(b"end_header\n") + len(b"end_header\n")
    header = raw[:end].decode("ascii").splitlines()
    assert header[:2] == ["ply", "format binary_little_endian 1.0"]
    n = int(next(h for h in header if h.startswith("element vertex")).split()[2])
    dtype = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"),
                      ("r", "u1"), ("g", "u1"), ("b", "u1")])
    assert len(raw) - end == n * dtype.itemsize
    return n, np.frombuffer(raw[end:], dtype=dtype)


def test_demo_writes_everything(tmp_path: Path, capsys) -> None:
    ckpt = make_checkpoint(tmp_path / "ckpt" / "m")
    out = tmp_path / "demo"
    rc = main(["demo", "--out", str(out), "--frames", "2", "--model", str(ckpt), "--threads",
               "1", "--no-progress"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert str(out / "metrics.json") in printed and ".ply" in printed

    res = json.loads((out / "metrics.json").read_text())
    methods = res["methods"]
    assert set(methods) >= {"mono", "stereo", "SGBM (its pixels)", "mono (SGBM pixels)"}
    assert methods["mono"]["frames"] == 2 and 0 < methods["SGBM (its pixels)"]["coverage"] < 1
    assert res["data"]["seed"] == 9001 and res["aux_engaged"] is True
    md = (out / "metrics.md").read_text()
    assert "| stereo |" in md and "| SGBM (its pixels) |" in md

    data = SynthStreetDataset(out / "data")
    assert len(data) == 2 and data.meta["seed"] == 9001
    item = data[0]
    h, w = item["depth"].shape
    # ground-truth colormap on disk = the fixed-range colormap of the dense depth
    gt_png = cv2.imread(str(out / "depth" / "gt_000000.png"))[..., ::-1]
    expected = colorize_depth(np.where(item["depth"] > 0, item["depth"], np.nan), 1.0, 80.0)
    np.testing.assert_array_equal(gt_png, expected)
    for name in ("depth/stereo_000001.png", "depth/sgbm_000001.png", "error/mono_000000.png",
                 "images/left_000001.png"):
        img = cv2.imread(str(out / name))
        assert img is not None and img.shape == (h, w, 3), name
    for name in ("overview.png", "per_frame.png"):
        assert cv2.imread(str(out / name)) is not None

    # the point cloud: finite points in front of the camera, coloured by the left image
    n, v = _ply_vertices(Path(res["paths"]["cloud"]))
    assert 0 < n <= h * w
    xyz = np.stack([v["x"], v["y"], v["z"]], 1)
    assert np.isfinite(xyz).all() and (v["z"] > 0).all() and (v["z"] <= 80).all()
    ngt, vgt = _ply_vertices(Path(res["paths"]["cloud_gt"]))
    mid = data[1]
    assert ngt == int(((mid["depth"] > 0) & (mid["depth"] <= 80)).sum())
    # every ground-truth point re-projects onto its pixel and carries that pixel's colour
    u = np.round(vgt["x"] / vgt["z"] * mid["fx"] + mid["cx"]).astype(int)
    r = np.round(vgt["y"] / vgt["z"] * mid["fy"] + mid["cy"]).astype(int)
    np.testing.assert_array_equal(np.stack([vgt["r"], vgt["g"], vgt["b"]], 1),
                                  mid["image"][r, u])
