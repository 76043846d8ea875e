"""Middlebury-layout stereo scenes: calib.txt / PFM per the format, the principal-point offset
(doffs) undone, and ``iid-rdepth evaluate --dataset middlebury`` through the runtime."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from eval_fixtures import make_matcher_checkpoint

from iid_rdepth_ros.cli.main import main
from iid_rdepth_ros.datasets import open_dataset
from iid_rdepth_ros.datasets.middlebury import read_calib, read_pfm
from iid_rdepth_ros.synth import SynthStreet

torch.set_num_threads(1)
H, W = 96, 320
CALIB = """cam0=[{f} 0 {cx0}; 0 {f} {cy}; 0 0 1]
cam1=[{f} 0 {cx1}; 0 {f} {cy}; 0 0 1]
doffs={doffs}
baseline={baseline_mm}
width={w}
height={h}
ndisp=96
"""


def write_scene(folder: Path, frame: dict, doffs: float, claimed_doffs: float | None = None
                ) -> None:
    """A synth frame as a Middlebury scene whose right camera's principal point is ``doffs``
    px further right (its image content moves right by ``doffs``); ``claimed_doffs`` is what
    calib.txt says (default: the truth)."""
    folder.mkdir(parents=True)
    f, b = float(frame["fx"]), float(frame["baseline_m"])
    cx0, cy = float(frame["cx"]), float(frame["cy"])
    claimed = doffs if claimed_doffs is None else claimed_doffs
    (folder / "calib.txt").write_text(CALIB.format(
        f=f, cx0=cx0, cx1=cx0 + claimed, cy=cy, doffs=claimed, baseline_mm=1000 * b, w=W, h=H))
    right = cv2.warpAffine(frame["right"], np.float32([[1, 0, doffs], [0, 1, 0]]), (W, H),
                           borderMode=cv2.BORDER_REPLICATE)
    cv2.imwrite(str(folder / "im0.png"), cv2.cvtColor(frame["left"], cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(folder / "im1.png"), cv2.cvtColor(right, cv2.COLOR_RGB2BGR))
    depth = frame["depth"]
    known = (depth > 0) & (depth < 60)
    disparity = np.where(known, f * b / np.where(known, depth, 1.0) - doffs, np.inf)
    cv2.imwrite(str(folder / "disp0GT.pfm"), disparity.astype(np.float32))


def _frames(n: int = 2) -> list[dict]:
    street = SynthStreet(seed=4, height=H, width=W, sequence_length=n)
    return [street.frame(i) for i in range(n)]


def test_calib_and_pfm_follow_the_format(tmp_path: Path) -> None:
    calib = tmp_path / "calib.txt"
    calib.write_text("cam0=[3997.684 0 1176.728; 0 3997.684 1011.728; 0 0 1]\n"
                     "cam1=[3997.684 0 1307.839; 0 3997.684 1011.728; 0 0 1]\n"
                     "doffs=131.111\nbaseline=193.001\nwidth=2964\nheight=1988\nndisp=280\n")
    c = read_calib(calib)
    assert c["fx"] == pytest.approx(3997.684) and c["cx"] == pytest.approx(1176.728)
    assert c["cx1"] == pytest.approx(1307.839) and c["doffs"] == pytest.approx(131.111)
    assert c["baseline_m"] == pytest.approx(0.193001)
    # a PFM written by hand as the format says: big-endian (positive scale), bottom row first
    rows = np.array([[1.0, 2.0, np.inf], [4.0, 5.0, 6.0]], dtype=np.float32)
    (tmp_path / "d.pfm").write_bytes(b"Pf\n3 2\n1.0\n" + rows[::-1].astype(">f4").tobytes())
    np.testing.assert_array_equal(read_pfm(tmp_path / "d.pfm"), rows)


@pytest.mark.parametrize("text, message", [
    ("cam0=[500 0 100; 0 500 50; 0 0 1]\nbaseline=100\n", "lacks cam1"),
    ("cam0=[500 0 100; 0 500 50; 0 0 1]\ncam1=[500 0 110; 0 500 60; 0 0 1]\nbaseline=100\n",
     "not a rectified pair"),
    ("cam0=[500 0 100; 0 500 50; 0 0 1]\ncam1=[500 0 110; 0 500 50; 0 0 1]\ndoffs=0\n"
     "baseline=100\n", "is not cx1 - cx0"),
    ("cam0=[500 0 100; 0 500 50]\ncam1=[500 0 110; 0 500 50; 0 0 1]\nbaseline=100\n",
     "cam0 must be a 3x3 matrix"),
    ("cam0=[500 0 100; 0 500 50; 0 0 1]\ncam1=[500 0 100; 0 500 50; 0 0 1]\nbaseline=-3\n",
     "baseline must be > 0"),
])
def test_bad_calib_is_one_clear_message(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "calib.txt").write_text(text)
    with pytest.raises(ValueError, match=message):
        read_calib(tmp_path / "calib.txt")


def test_reader_gives_metric_depth_and_an_aligned_right_view(tmp_path: Path) -> None:
    frame = _frames(1)[0]
    write_scene(tmp_path / "scene", frame, doffs=6.0)
    reader = open_dataset("middlebury", "all", tmp_path / "scene")  # one scene folder
    assert len(reader) == 1 and reader.meta["scenes"] == ["scene"]
    item = reader[0]
    known = (frame["depth"] > 0) & (frame["depth"] < 60)
    np.testing.assert_allclose(item["depth"][known], frame["depth"][known], rtol=1e-4)
    assert (item["depth"][~known] == 0).all()
    # the right view moved back by doffs: equal to the rectified-convention original
    np.testing.assert_array_equal(item["aux"][:, :W - 6], frame["right"][:, :W - 6])
    assert item["fx"] == pytest.approx(float(frame["fx"]))


def test_reader_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="holds no Middlebury scene"):
        open_dataset("middlebury", "all", tmp_path)
    frame = _frames(1)[0]
    write_scene(tmp_path / "a", frame, doffs=0.0)
    (tmp_path / "a" / "disp0GT.pfm").unlink()
    with pytest.raises(ValueError, match="lacks disp0.pfm or disp0GT.pfm"):
        open_dataset("middlebury", "all", tmp_path)
    (tmp_path / "list.txt").write_text("a\nb\n")
    with pytest.raises(ValueError, match="1 listed scene"):
        open_dataset("middlebury", str(tmp_path / "list.txt"), tmp_path)
    assert main(["evaluate", "--dataset", "middlebury", "--data", str(tmp_path / "none"),
                 "--sgbm", "--no-progress"]) == 2


def _evaluate(root: Path, model: Path, out: Path) -> dict:
    assert main(["evaluate", "--model", str(model), "--dataset", "middlebury", "--data",
                 str(root), "--backend", "torch", "--json", str(out), "--threads", "1",
                 "--no-progress"]) == 0
    return json.loads(out.read_text())


def test_evaluate_through_the_runtime_undoes_doffs(tmp_path: Path) -> None:
    model = make_matcher_checkpoint(tmp_path / "stereo")
    frames = _frames(2)
    for i, frame in enumerate(frames):
        write_scene(tmp_path / "aligned" / f"s{i}", frame, doffs=0.0)
        write_scene(tmp_path / "offset" / f"s{i}", frame, doffs=6.0)
        # the same images with calib.txt silent about the offset: the pair is 6 px off
        write_scene(tmp_path / "wrong" / f"s{i}", frame, doffs=6.0, claimed_doffs=0.0)
    aligned = _evaluate(tmp_path / "aligned", model, tmp_path / "a.json")
    offset = _evaluate(tmp_path / "offset", model, tmp_path / "o.json")
    wrong = _evaluate(tmp_path / "wrong", model, tmp_path / "w.json")
    assert aligned["frames"] == 2 and aligned["aux_engaged"] is True
    assert [r["name"] for r in offset["per_frame"]] == ["s0", "s1"]
    assert offset["abs_rel"] == pytest.approx(aligned["abs_rel"], rel=0.02)
    assert abs(wrong["abs_rel"] - aligned["abs_rel"]) > 10 * abs(offset["abs_rel"]
                                                                 - aligned["abs_rel"])


def test_sgbm_beside_the_network_on_middlebury_scenes(tmp_path: Path) -> None:
    model = make_matcher_checkpoint(tmp_path / "stereo")
    results = {}
    for kind, doffs in (("aligned", 0.0), ("offset", 6.0)):
        for i, frame in enumerate(_frames(2)):
            write_scene(tmp_path / kind / f"s{i}", frame, doffs=doffs)
        out = tmp_path / f"{kind}.json"
        assert main(["evaluate", "--sgbm", "--model", str(model), "--dataset", "middlebury",
                     "--data", str(tmp_path / kind), "--backend", "torch", "--near", "3",
                     "--json", str(out), "--threads", "1", "--no-progress"]) == 0
        results[kind] = json.loads(out.read_text())
    res = results["offset"]
    assert res["frames"] == 2 and 0.3 < res["coverage"] <= 1.0
    assert res["timing"]["network_backend"] == "torch" and res["aux_engaged"] is True
    assert res["data"]["dataset"] == "middlebury"
    assert "abs_rel" in res["network_same_pixels"] and "abs_rel" in res["network_all_pixels"]
    # SGBM matched the pair as moved onto one principal point, as if there were no offset
    assert res["abs_rel"] == pytest.approx(results["aligned"]["abs_rel"], rel=0.05)
    assert res["abs_rel"] < 0.2
