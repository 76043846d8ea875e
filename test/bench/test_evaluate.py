"""evaluate / SGBM on a tiny generated data set with an untrained checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from eval_fixtures import make_checkpoint, make_data

from iid_rdepth_ros.bench.evaluate import evaluate
from iid_rdepth_ros.bench.evaluate_sgbm import evaluate_sgbm
from iid_rdepth_ros.evaluation.metrics import METRIC_KEYS, compute_metrics
from iid_rdepth_ros.evaluation.sgbm import SgbmMatcher, SgbmParams

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, untrained_checkpoint: Path,
        tiny_synth: Path) -> dict[str, Path]:
    return {"ckpt": untrained_checkpoint, "data": tiny_synth,
            "root": tmp_path_factory.mktemp("eval")}


def _manual_abs_rel(ckpt: Path, data: Path, scale_fx: float) -> list[float]:
    """Independent path: model forward on each frame, metric scale fx_net/f_canonical."""
    from iid_rdepth_ros.model.checkpoint import load_checkpoint
    from iid_rdepth_ros.synth import SynthStreetDataset

    model, _ = load_checkpoint(str(ckpt))
    out = []
    for item in SynthStreetDataset(data):
        x = torch.from_numpy(item["image"]).permute(2, 0, 1)[None].float() / 255.0
        with torch.no_grad():
            canonical_depth = model(x)[0, 0].numpy()
        pred = canonical_depth * (item["fx"] * scale_fx) / model.cfg.canonical_focal
        out.append(compute_metrics(pred, item["depth"])["abs_rel"])
    return out


def test_evaluate_mono_matches_manual_forward_and_focal_rescale(env: dict[str, Path]) -> None:
    res = evaluate(str(env["ckpt"]), env["data"], aux=False, steps=None, batch_size=2,
                   num_threads=1, progress=False)
    assert res["frames"] == 3 and res["aux_engaged"] is False
    assert res["steps"] == 4  # the preset's inference T
    assert all(np.isfinite(res[k]) for k in METRIC_KEYS)
    assert res["data"]["seed"] == 5 and res["model"]["preset"] == "lite0-96x320"
    manual = _manual_abs_rel(env["ckpt"], env["data"], 1.0)
    got = [f["abs_rel"] for f in res["per_frame"]]
    np.testing.assert_allclose(got, manual, rtol=1e-4)
    assert res["abs_rel"] == pytest.approx(np.mean(manual), rel=1e-4)

    # the same frames claimed to come from a camera with twice the focal length: depth x2
    doubled = env["root"] / "data_2f"
    doubled.mkdir()
    for entry in env["data"].iterdir():
        (doubled / entry.name).symlink_to(entry)
    (doubled / "frames.jsonl").unlink()
    lines = []
    for line in (env["data"] / "frames.jsonl").read_text().splitlines():
        rec = json.loads(line)
        rec["fx"] *= 2.0
        lines.append(json.dumps(rec))
    (doubled / "frames.jsonl").write_text("\n".join(lines) + "\n")
    res2 = evaluate(str(env["ckpt"]), doubled, aux=False, steps=None, batch_size=3,
                    num_threads=1, progress=False)
    manual2 = _manual_abs_rel(env["ckpt"], env["data"], 2.0)
    np.testing.assert_allclose([f["abs_rel"] for f in res2["per_frame"]], manual2, rtol=1e-4)
    assert res2["abs_rel"] != pytest.approx(res["abs_rel"], rel=1e-3)


def test_evaluate_stereo_engages_aux_and_resizes(env: dict[str, Path]) -> None:
    mono = evaluate(str(env["ckpt"]), env["data"], aux=False, steps=2, batch_size=3,
                    num_threads=1, progress=False)
    stereo = evaluate(str(env["ckpt"]), env["data"], aux=True, steps=2, batch_size=3,
                      num_threads=1, progress=False)
    assert stereo["aux_engaged"] is True and stereo["steps"] == 2
    assert stereo["rmse"] != pytest.approx(mono["rmse"], rel=1e-6)
    # data at twice the network size: images are resized, depth scored at the data's size
    big = make_data(env["root"] / "data_big", frames=2, height=192, width=640)
    res = evaluate(str(env["ckpt"]), big, aux=True, steps=2, batch_size=2, num_threads=1,
                   progress=False, frames=1)
    assert res["frames"] == 1 and res["data"]["frames_total"] == 2
    assert np.isfinite(res["rmse"])


def test_evaluate_bad_input(env: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        evaluate(str(env["ckpt"]), tmp_path / "nope", aux=False, steps=None, progress=False)
    with pytest.raises(FileNotFoundError, match="checkpoint"):
        evaluate(str(tmp_path / "missing"), env["data"], aux=False, steps=None, progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        evaluate(str(env["ckpt"]), env["data"], aux=False, steps=None, batch_size=0,
                 progress=False)


def test_sgbm_recovers_known_disparity() -> None:
    rng = np.random.default_rng(3)
    h, w, d = 64, 160, 9
    texture = rng.integers(0, 256, size=(h, w + d, 3), dtype=np.uint8)
    left = texture[:, :w].copy()
    right = texture[:, d:].copy()  # texture column c: left column c, right column c - d
    matcher = SgbmMatcher(SgbmParams(num_disparities=32))
    disp = matcher.disparity(left, right)
    inner = disp[8:-8, 40:-8]
    assert np.isfinite(inner).mean() > 0.95
    assert np.nanmedian(np.abs(inner - d)) < 0.25
    assert np.isnan(disp[:, :32]).all()  # no partner in the right image
    depth = matcher.depth(left, right, fx=200.0, baseline_m=0.5)
    assert np.nanmedian(depth[8:-8, 40:-8]) == pytest.approx(200.0 * 0.5 / d, rel=0.03)


def test_sgbm_params() -> None:
    p = SgbmParams.for_camera(fb=371.8 * 0.54, width=640, near_m=2.0)
    assert p.num_disparities == 112  # ceil(100.4 / 16) * 16
    assert (p.p1, p.p2) == (8 * 3 * 25, 32 * 3 * 25)
    assert SgbmParams.for_camera(fb=1000.0, width=320).num_disparities == 160  # width / 2
    with pytest.raises(ValueError, match="multiple of 16"):
        SgbmParams(num_disparities=100)
    with pytest.raises(ValueError, match="odd"):
        SgbmParams(block_size=4)
    with pytest.raises(ValueError, match="same size"):
        SgbmMatcher(SgbmParams()).disparity(np.zeros((4, 4, 3), np.uint8),
                                            np.zeros((4, 5, 3), np.uint8))


def test_evaluate_sgbm_with_network_on_same_pixels(env: dict[str, Path]) -> None:
    res = evaluate_sgbm(env["data"], str(env["ckpt"]), aux=True, steps=2, batch_size=3,
                        num_threads=1, progress=False)
    assert res["frames"] == 3
    assert 0.5 < res["coverage"] < 1.0
    assert res["abs_rel"] < 0.2 and res["d1"] > 0.8  # classical stereo works on this data
    same, full = res["network_same_pixels"], res["network_all_pixels"]
    assert same["frames"] == full["frames"] == 3
    assert same["rmse"] != pytest.approx(full["rmse"], rel=1e-6)
    only = evaluate_sgbm(env["data"], progress=False)
    assert only["abs_rel"] == pytest.approx(res["abs_rel"], rel=1e-9)
    assert "network_same_pixels" not in only


def test_baseline_model_ignores_aux(env: dict[str, Path]) -> None:
    ckpt = make_checkpoint(env["root"] / "ckpt" / "baseline", variant="baseline")
    res = evaluate(str(ckpt), env["data"], aux=True, steps=None, batch_size=3, num_threads=1,
                   progress=False, frames=2)
    assert res["aux"] is True and res["aux_engaged"] is False
    assert res["steps"] is None and res["model"]["variant"] == "baseline"
    assert res["frames"] == 2 and [f["index"] for f in res["per_frame"]] == [0, 2]
