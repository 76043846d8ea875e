"""Depth metrics against hand-computed values on tiny arrays."""

import math

import numpy as np
import pytest

from iid_rdepth_ros.evaluation.metrics import (
    METRIC_KEYS,
    MetricAccumulator,
    compute_metrics,
    garg_crop_mask,
    ratio_interval,
    valid_mask,
)


def test_metrics_match_hand_computation_and_exclude_invalid() -> None:
    # valid: gt 2 (pred 1.25) and gt 4 (pred 4); gt 0 (no measurement) and gt 100 (> cap) out
    gt = np.array([[2.0, 4.0], [0.0, 100.0]], dtype=np.float32)
    pred = np.array([[1.25, 4.0], [5.0, 3.0]], dtype=np.float32)
    m = compute_metrics(pred, gt)
    le = math.log(1.25 / 2.0)  # e at the first pixel; 0 at the second
    assert m["pixels"] == 2
    assert m["abs_rel"] == pytest.approx((0.75 / 2 + 0) / 2)
    assert m["sq_rel"] == pytest.approx((0.75**2 / 2 + 0) / 2)
    assert m["rmse"] == pytest.approx(math.sqrt(0.75**2 / 2))
    assert m["rmse_log"] == pytest.approx(math.sqrt(le**2 / 2))
    assert m["log10"] == pytest.approx(abs(math.log10(1.25 / 2.0)) / 2)
    # mean(e^2) - mean(e)^2 = le^2/2 - le^2/4
    assert m["silog"] == pytest.approx(math.sqrt(le**2 / 4) * 100)
    assert m["d1"] == pytest.approx(0.5)  # ratio 1.6 fails 1.25
    assert m["d2"] == pytest.approx(0.5)  # 1.6 > 1.5625
    assert m["d3"] == pytest.approx(1.0)  # 1.6 < 1.953125


def test_prediction_is_clipped_and_cap_is_configurable() -> None:
    gt = np.array([[50.0, 10.0]])
    pred = np.array([[200.0, 0.0]])
    m = compute_metrics(pred, gt)
    # 200 -> 80 (|80-50|/50), 0 -> 1e-3 (|1e-3-10|/10)
    assert m["abs_rel"] == pytest.approx((30 / 50 + (10 - 1e-3) / 10) / 2)
    m40 = compute_metrics(pred, gt, max_depth=40.0)
    assert m40["pixels"] == 1  # gt 50 is beyond a 40 m cap
    assert m40["abs_rel"] == pytest.approx((10 - 1e-3) / 10)


def test_perfect_prediction() -> None:
    gt = np.linspace(1, 79, 12).reshape(3, 4)
    m = compute_metrics(gt.copy(), gt)
    for k in ("abs_rel", "sq_rel", "rmse", "rmse_log", "log10", "silog"):
        assert m[k] == pytest.approx(0.0, abs=1e-9)
    assert m["d1"] == m["d2"] == m["d3"] == 1.0


def test_silog_ignores_global_scale() -> None:
    rng = np.random.default_rng(0)
    gt = rng.uniform(2, 60, size=(8, 8))
    pred = gt * rng.uniform(0.9, 1.1, size=gt.shape)
    a = compute_metrics(pred, gt)
    b = compute_metrics(pred * 0.7, gt)  # stays inside [1e-3, 80]
    assert a["silog"] == pytest.approx(b["silog"], rel=1e-9)
    assert a["abs_rel"] != pytest.approx(b["abs_rel"])


def test_garg_crop_selects_documented_pixels() -> None:
    # KITTI 375x1242: rows 153..370, cols 44..1196 (the widely quoted crop)
    mask = garg_crop_mask((375, 1242))
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    assert (rows[0], rows[-1], cols[0], cols[-1]) == (153, 370, 44, 1196)
    assert mask.sum() == (371 - 153) * (1197 - 44)
    # 37x28: int(15.1)=15 .. int(36.7)=36, int(1.007)=1 .. int(26.99)=26 (end-exclusive)
    small = garg_crop_mask((37, 28))
    expected = np.zeros((37, 28), dtype=bool)
    expected[15:36, 1:26] = True
    np.testing.assert_array_equal(small, expected)


def test_garg_crop_changes_which_pixels_count() -> None:
    gt = np.full((37, 28), 10.0)
    pred = gt.copy()
    pred[0, :] = 20.0  # error only in the top row, outside the crop
    assert compute_metrics(pred, gt, garg_crop=True)["abs_rel"] == 0.0
    assert compute_metrics(pred, gt)["abs_rel"] == pytest.approx(28 / (37 * 28))
    assert valid_mask(gt, garg_crop=True).sum() == 21 * 25


def test_extra_mask_restricts_pixels() -> None:
    gt = np.array([[2.0, 4.0]])
    pred = np.array([[np.nan, 5.0]])
    with pytest.raises(ValueError, match="not finite"):
        compute_metrics(pred, gt)
    m = compute_metrics(pred, gt, mask=np.isfinite(pred))
    assert m["pixels"] == 1 and m["abs_rel"] == pytest.approx(0.25)


def test_bad_input_raises() -> None:
    with pytest.raises(ValueError, match="shape"):
        compute_metrics(np.ones((2, 2)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="no valid"):
        compute_metrics(np.ones((2, 2)), np.zeros((2, 2)))


def test_accumulator_averages_per_frame_not_per_pixel() -> None:
    acc = MetricAccumulator()
    acc.update(np.array([[2.0]]), np.array([[1.0]]))  # abs_rel 1.0 over 1 pixel
    acc.update(np.ones((1, 3)), np.ones((1, 3)))  # abs_rel 0.0 over 3 pixels
    assert acc.update(np.ones((2, 2)), np.zeros((2, 2))) is None  # all sky: skipped
    out = acc.result()
    assert out["frames"] == 2 and out["skipped"] == 1
    assert out["abs_rel"] == pytest.approx(0.5)  # pooled over pixels it would be 0.25
    assert set(METRIC_KEYS) <= set(out)


def test_ratio_interval_resamples_whole_sequences() -> None:
    rng = np.random.default_rng(1)
    groups = np.repeat(np.arange(10), 20)
    base = rng.uniform(2, 4, 200)
    # one ratio everywhere: no uncertainty
    low, high = ratio_interval(0.7 * base, base, groups)
    assert low == pytest.approx(0.7) and high == pytest.approx(0.7)
    # the ratio differs by sequence (0.6 .. 0.8): the interval holds the point estimate, and
    # it is wider than resampling single frames would suggest (each frame its own group)
    per_seq = np.linspace(0.6, 0.8, 10)[groups]
    num = per_seq * base
    point = num.mean() / base.mean()
    low, high = ratio_interval(num, base, groups)
    assert 0.6 < low < point < high < 0.8
    f_low, f_high = ratio_interval(num, base, np.arange(200))
    assert high - low > 1.5 * (f_high - f_low)
    assert ratio_interval(num, base, groups, seed=0) == (low, high)  # reproducible


def test_ratio_interval_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="one length"):
        ratio_interval([1.0, 2.0], [1.0], [0, 1])
    with pytest.raises(ValueError, match="two groups"):
        ratio_interval([1.0, 2.0], [1.0, 2.0], [0, 0])
    with pytest.raises(ValueError, match="confidence"):
        ratio_interval([1.0, 2.0], [1.0, 2.0], [0, 1], confidence=1.0)
