"""bench.stereo_eval: metrics on hand-made cases, the invariance resampling on an analytic
plane, the semi-real pairs' camera, data preparation and the report (no model runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from iid_rdepth_ros.bench import stereo_eval as se


def test_depth_to_disparity_marks_invalid_nan() -> None:
    d = se.depth_to_disparity(np.array([2.0, 0.0, np.nan, -1.0, np.inf]), 100.0)
    assert d[0] == pytest.approx(50.0)
    assert np.isnan(d[1:]).all()


def _hand_case() -> tuple[np.ndarray, np.ndarray, float]:
    """fb = 100: GT at 2 m (d 50), 10 m (d 10), 50 m (d 2); disparity errors 0.5 / 2 / 4 px."""
    fb = 100.0
    gt = np.array([[2.0, 2.0, 10.0, 10.0, 50.0, 50.0, 0.0, 90.0]])
    pred_disp = np.array([[50.5, 50.0, 12.0, 10.0, 6.0, np.nan, 1.0, 1.0]])
    return gt, fb / pred_disp, fb


def test_pixel_stats_bad_rates_epe_and_ranges() -> None:
    gt, pred, fb = _hand_case()
    stats = se.PixelStats()
    stats.update(pred, gt, fb, np.ones(gt.shape, bool))
    r = stats.result()
    # valid GT: 6 pixels (0 m = none and 90 m > cap are out); one NaN prediction
    assert r["all"]["pixels"] == 6
    assert r["all"]["coverage"] == pytest.approx(5 / 6)
    assert r["all"]["epe"] == pytest.approx((0.5 + 0 + 2 + 0 + 4) / 5)
    assert r["all"]["bad1"] == pytest.approx(2 / 5)
    assert r["all"]["bad3"] == pytest.approx(1 / 5)
    near, mid, far = (r[se.range_label(lo, hi)] for lo, hi in se.RANGES)
    assert near["pixels"] == 2 and near["bad1"] == 0.0
    assert near["abs_rel"] == pytest.approx(abs(100 / 50.5 - 2) / 2 / 2)
    assert mid["bad1"] == pytest.approx(0.5) and mid["bad3"] == 0.0
    assert mid["abs_rel"] == pytest.approx(abs(100 / 12 - 10) / 10 / 2)
    assert far["pixels"] == 2 and far["coverage"] == pytest.approx(0.5)
    assert far["epe"] == pytest.approx(4.0) and far["bad3"] == 1.0


def test_pixel_stats_mask_and_empty_range() -> None:
    gt, pred, fb = _hand_case()
    stats = se.PixelStats()
    mask = np.zeros(gt.shape, bool)
    mask[0, :2] = True
    stats.update(pred, gt, fb, mask)
    r = stats.result()
    assert r["all"]["pixels"] == 2
    far = r[se.range_label(*se.RANGES[-1])]
    assert far["pixels"] == 0 and far["abs_rel"] is None and far["coverage"] is None


def _plane_depth(cam: se.PinholeCam, a: float = 6.0, b: float = 0.3, c: float = -0.2
                 ) -> np.ndarray:
    """Depth of the plane Z = a + b X + c Y seen through ``cam`` (X = x Z, Y = y Z)."""
    x = (np.arange(cam.width) - cam.cx) / cam.fx
    y = (np.arange(cam.height) - cam.cy) / cam.fy
    return (a / (1.0 - b * x[None, :] - c * y[:, None])).astype(np.float32)


CAM_A = se.PinholeCam(100.0, 100.0, 47.5, 35.5, 72, 96)
CAM_B = se.PinholeCam(60.0, 60.0, 31.2, 17.8, 36, 64)  # other size, focal, field of view


def test_resample_depth_recovers_an_analytic_plane() -> None:
    za, zb = _plane_depth(CAM_A), _plane_depth(CAM_B)
    zb_on_a = se.resample_depth(zb, CAM_B, CAM_A)
    inside = np.isfinite(zb_on_a)
    assert 0.5 < inside.mean() < 1.0  # B sees less vertically: rows of A are outside
    assert np.abs(zb_on_a[inside] - za[inside]).max() / za.min() < 2e-3
    # the rows outside B's vertical field of view are NaN
    v_b = (np.arange(CAM_A.height) - CAM_A.cy) / CAM_A.fy * CAM_B.fy + CAM_B.cy
    outside_rows = (v_b < 0) | (v_b > CAM_B.height - 1)
    assert outside_rows.any() and not inside[outside_rows].any()


def test_resample_depth_never_blends_into_holes() -> None:
    zb = _plane_depth(CAM_B)
    zb[10:20, 20:30] = np.nan
    out = se.resample_depth(zb, CAM_B, CAM_B)
    assert np.isnan(out[10:20, 20:30]).all()
    assert np.isfinite(out[:9]).all()


def test_compare_views_scale_error_and_identity() -> None:
    za, zb = _plane_depth(CAM_A), _plane_depth(CAM_B)
    same = se.compare_views(za, zb, za, zb, CAM_A, CAM_B)
    assert same["abs_rel_between"] < 2e-3 and same["gt_floor"] < 2e-3
    assert 0.5 < same["common_share"] < 1.0
    off = se.compare_views(za, 1.1 * zb, za, zb, CAM_A, CAM_B)
    assert off["abs_rel_between"] == pytest.approx(0.1, abs=3e-3)
    assert off["abs_rel_b"] == pytest.approx(0.1, abs=3e-3)
    assert off["abs_rel_a"] < 2e-3


def test_compare_views_leaves_out_inconsistent_ground_truth() -> None:
    za, zb = _plane_depth(CAM_A), _plane_depth(CAM_B)
    gt_b = zb.copy()
    gt_b[:, :32] *= 2.0  # B's ground truth disagrees on its left half: not comparable there
    r = se.compare_views(za, zb, za, gt_b, CAM_A, CAM_B)
    full = se.compare_views(za, zb, za, zb, CAM_A, CAM_B)
    assert 0 < r["pixels"] < full["pixels"]


def test_semi_real_pairs_camera_and_masks() -> None:
    pytest.importorskip("skimage")
    pairs = se.semi_real_pairs(2, (48, 64), seed=3, photos=("coffee",))
    assert [name for name, _ in pairs] == ["coffee", "coffee"]
    for _, p in pairs:
        assert p.left.shape == p.right.shape == (48, 64, 3)
        assert p.fx == p.fy == pytest.approx(32 / np.tan(np.radians(30)))
        assert (p.cx, p.cy) == (31.5, 23.5)
        assert p.visible is not None and p.visible.any()
        d = p.depth[p.visible]
        assert (d > 0).all()
        # depth = fb / disparity with fb = fx * B
        assert np.isfinite(se.depth_to_disparity(d, p.fb)).all()


def test_prepare_data_generates_missing_folders_only(tmp_path: Path) -> None:
    calls: list[dict[str, Any]] = []

    def fake_generate(path: Path, frames: int, seed: int, **kw: Any) -> None:
        calls.append({"path": Path(path), "frames": frames, "seed": seed, **kw})
        Path(path).mkdir(parents=True)
        (Path(path) / "meta.json").write_text("{}")

    dirs = se.prepare_data(tmp_path, 5, 3, generate_fn=fake_generate)
    assert set(se.SPLITS) <= set(dirs)
    assert len(calls) == 4
    splits = {c["config"].name: c for c in calls if c.get("camera") is None}
    assert set(splits) == set(se.SPLITS) and all(c["frames"] == 5 for c in splits.values())
    cams = [c["camera"] for c in calls if c.get("camera") is not None]
    assert [(c.height, c.width, c.focal_px, c.baseline_m) for c in cams] == list(
        se.INVARIANCE_CAMERAS)
    se.prepare_data(tmp_path, 5, 3, generate_fn=fake_generate)
    assert len(calls) == 4  # nothing regenerated


def _split_result() -> dict[str, Any]:
    m = {"abs_rel": 0.05, "abs_rel_median_frame": 0.04, "rmse": 1.0, "d1": 0.95, "frames": 2}
    stats = se.PixelStats()
    gt, pred, fb = _hand_case()
    stats.update(pred, gt, fb, np.ones(gt.shape, bool))
    return {"stereo_sgbm_pixels": m, "sgbm": {**m, "abs_rel": 0.2}, "stereo_all_pixels": m,
            "pixels": {"stereo": stats.result(), "sgbm": stats.result(),
                       "stereo_sgbm_pixels": stats.result()},
            "sgbm_coverage": 0.8, "confidence_mean": 0.7, "ratio_vs_sgbm": 0.25,
            "ratio_vs_sgbm_median": 0.3,
            "timing": {"stereo_s": 1.0, "mono_s": 0.0, "sgbm_s": 0.1},
            "data": {"frames_evaluated": 2, "seed": 1, "scene_kinds": {"room": 2},
                     "sizes": ["48x64"]}}


def test_render_markdown_has_command_tables_and_verdicts() -> None:
    result = {"model": {"name": "m", "backend": "torch", "budget": "192x640"},
              "splits": {"test-mixed": _split_result()}, "wall_s": 1.0}
    md = se.render_markdown(result, "python scripts/eval_stereo.py --model m")
    assert "    python scripts/eval_stereo.py --model m" in md
    assert "## test-mixed" in md and "target <= 0.5: met" in md
    assert "median-frame AbsRel ratio 0.300" in md
    assert "| SGBM | own | 10-20 m |" not in md and "| stereo | all GT | 5-20 m |" in md
