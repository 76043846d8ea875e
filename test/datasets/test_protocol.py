"""KITTI evaluation protocol end to end: Garg crop, depth cap, KB crop, known-error metrics."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from eval_fixtures import make_checkpoint
from kitti_fixtures import make_kitti, split_lines

from iid_rdepth_ros.cli.main import main
from iid_rdepth_ros.evaluation.metrics import garg_crop_mask

torch.set_num_threads(1)
FRAMES = {"0002": [5, 6], "0005": [3]}
NAMES = [("0002", 5), ("0002", 6), ("0005", 3)]


@pytest.fixture(scope="module")
def kitti(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, Path]:
    root = tmp_path_factory.mktemp("kitti_eval")
    truth = make_kitti(root, FRAMES, velodyne=False)
    split = root / "split.txt"
    split.write_text(split_lines(FRAMES))
    return root, truth, split


def _name(drive: str, frame: int) -> str:
    return f"2011_09_26_drive_{drive}_sync_image_02_{frame:010d}"


def test_garg_crop_selects_the_documented_pixels() -> None:
    mask = garg_crop_mask((375, 1242))
    rows, cols = np.nonzero(mask)
    # int(0.40810811 * 375) = 153 .. int(0.99189189 * 375) = 371 (exclusive);
    # int(0.03594771 * 1242) = 44 .. int(0.96405229 * 1242) = 1197 (exclusive)
    assert (rows.min(), rows.max() + 1, cols.min(), cols.max() + 1) == (153, 371, 44, 1197)
    assert mask.sum() == (371 - 153) * (1197 - 44)


def _write_predictions(out: Path, truth: dict, crop: tuple[slice, slice] | None) -> None:
    out.mkdir()
    for drive, frame in NAMES:
        gt = truth[(drive, frame, 2)]["gt"]
        pred = np.where(gt > 0, 1.1 * gt, 7.0).astype(np.float32)  # +10 % wherever measured
        outside = ~garg_crop_mask(gt.shape) & (gt > 0)
        pred[outside] = 0.3 * gt[outside]  # wildly wrong, but outside the Garg crop
        np.save(out / f"{_name(drive, frame)}.npy", pred if crop is None else pred[crop])


def _evaluate(argv: list[str], out: Path) -> dict:
    assert main(["evaluate", *argv, "--json", str(out), "--no-progress"]) == 0
    return json.loads(out.read_text())


def test_known_error_gives_known_metrics(kitti: tuple[Path, dict, Path], tmp_path: Path) -> None:
    root, truth, split = kitti
    _write_predictions(tmp_path / "pred", truth, None)
    common = ["--dataset", "kitti", "--data-root", str(root), "--split", str(split),
              "--gt", "annotated", "--kb-crop", "off", "--predictions", str(tmp_path / "pred")]
    res = _evaluate(common, tmp_path / "r.json")
    assert res["frames"] == 3 and res["protocol"]["eval_crop"] == "garg"
    expected: dict[str, list[float]] = {"sq_rel": [], "rmse": [], "abs_rel_30": []}
    for drive, frame in NAMES:
        gt = truth[(drive, frame, 2)]["gt"][153:371, 44:1197].astype(np.float64)
        g = gt[(gt > 1e-3) & (gt < 80)]  # the fixture's depths are all below 64 m
        expected["sq_rel"].append(0.01 * g.mean())  # (0.1 g)^2 / g
        expected["rmse"].append(0.1 * math.sqrt((g * g).mean()))
        near = gt[(gt > 1e-3) & (gt < 30)]  # with a 30 m cap predictions are clipped to 30
        expected["abs_rel_30"].append(np.mean(np.abs(np.minimum(1.1 * near, 30) - near) / near))
    assert res["abs_rel"] == pytest.approx(0.1, rel=1e-5)
    assert res["sq_rel"] == pytest.approx(np.mean(expected["sq_rel"]), rel=1e-5)
    assert res["rmse"] == pytest.approx(np.mean(expected["rmse"]), rel=1e-5)
    assert res["rmse_log"] == pytest.approx(math.log(1.1), rel=1e-5)
    assert res["log10"] == pytest.approx(math.log10(1.1), rel=1e-5)
    assert res["silog"] == pytest.approx(0.0, abs=1e-3)
    assert res["d1"] == res["d2"] == res["d3"] == 1.0
    assert res["per_frame"][0]["name"] == _name("0002", 5)
    capped = _evaluate(common + ["--max-depth", "30"], tmp_path / "c.json")
    assert capped["abs_rel"] == pytest.approx(np.mean(expected["abs_rel_30"]), rel=1e-5)
    # the KB crop (predictions at 352x1216) covers the Garg crop: the same numbers
    _write_predictions(tmp_path / "kb", truth, (slice(23, 375), slice(13, 1229)))
    kb = _evaluate(common[:-4] + ["--kb-crop", "on", "--predictions", str(tmp_path / "kb")],
                   tmp_path / "kb.json")
    assert kb["protocol"]["kb_crop"] is True
    for key in ("abs_rel", "sq_rel", "rmse", "rmse_log", "d1"):
        assert kb[key] == pytest.approx(res[key], rel=1e-9), key
    # without the crop, the wrong pixels outside it count
    nocrop = _evaluate(common + ["--crop", "none"], tmp_path / "n.json")
    assert nocrop["abs_rel"] > 0.2


def test_model_evaluation_and_saved_predictions(kitti: tuple[Path, dict, Path],
                                                tmp_path: Path) -> None:
    root, _, split = kitti
    ckpt = make_checkpoint(tmp_path / "ckpt" / "m")
    common = ["--dataset", "kitti", "--data-root", str(root), "--split", str(split),
              "--gt", "annotated", "--batch-size", "2", "--threads", "1"]
    res = _evaluate(["--model", str(ckpt), *common, "--save-predictions",
                     str(tmp_path / "saved")], tmp_path / "m.json")
    assert res["aux_engaged"] is True and res["frames"] == 3
    proto = res["protocol"]
    assert (proto["eval_crop"], proto["kb_crop"], proto["max_depth"]) == ("garg", True, 80.0)
    assert res["data"]["meta"]["ground_truth"] == "annotated"
    saved = np.load(tmp_path / "saved" / f"{_name('0005', 3)}.npy")
    assert saved.shape == (352, 1216) and np.isfinite(saved).all()
    again = _evaluate([*common, "--predictions", str(tmp_path / "saved")], tmp_path / "p.json")
    for key in ("abs_rel", "rmse", "silog", "d1"):
        assert again[key] == pytest.approx(res[key], rel=1e-6), key
    # user errors: exit 2
    assert main(["evaluate", "--predictions", str(tmp_path / "saved"), "--dataset", "nyu",
                 "--data-root", str(root), "--kb-crop", "on"]) == 2
