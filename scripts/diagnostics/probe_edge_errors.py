"""Diagnostic (issue 2): how much of a model's squared depth error lies at depth edges.

    python scripts/probe_edge_errors.py CHECKPOINT SYNTH_DIR [EVERY] [--aux]

On every EVERY-th frame (default 4), splits the dense-GT pixels into: hidden from the right
camera by a nearer surface (from the ground-truth disparity); other pixels within 3 px of a
ground-truth depth edge (log-depth range over 7x7 above 0.15), on its far or near side; and the
rest. Prints each class's share of pixels and of squared error, its RMSE (pooled over pixels)
and the share of its squared error where the prediction is too near.
"""

import numpy as np
from probe_common import metric_depth, open_probe
from scipy.ndimage import maximum_filter, minimum_filter


def hidden_from_right(disparity: np.ndarray) -> np.ndarray:
    """Pixels whose right-view position x - d is covered by a pixel further right that lands
    further left (a nearer surface)."""
    x_right = np.arange(disparity.shape[1])[None, :] - disparity
    right_min = np.minimum.accumulate(x_right[:, ::-1], axis=1)[:, ::-1]
    beyond = np.concatenate([right_min[:, 1:], np.full((disparity.shape[0], 1), np.inf)], 1)
    return beyond < x_right - 0.5


model, ds, every, use_aux = open_probe(default_every=4)
sums: dict[str, np.ndarray] = {}  # pixels, squared error, squared error where too near
for i in range(0, len(ds), every):
    it = ds[i]
    gt = it["depth"]
    pred = metric_depth(model, it, use_aux)
    valid = (gt > 1e-3) & (gt <= 80)
    disparity = np.where(valid, it["fx"] * it["baseline_m"] / np.maximum(gt, 1e-3), 0)
    hidden = hidden_from_right(disparity)
    log_gt = np.log(np.where(gt > 1e-3, gt, 80.0))
    hi, lo = maximum_filter(log_gt, 7), minimum_filter(log_gt, 7)
    edge, far_side = (hi - lo) > 0.15, (hi - log_gt) < (log_gt - lo)
    err = (pred - gt) ** 2
    classes = {"hidden from the right camera": valid & hidden,
               "edge, far side (visible)": valid & edge & far_side & ~hidden,
               "edge, near side": valid & edge & ~far_side & ~hidden,
               "rest": valid & ~edge & ~hidden, "all": valid}
    for name, m in classes.items():
        row = (m.sum(), err[m].sum(), err[m & (pred < gt)].sum())
        sums[name] = sums.get(name, np.zeros(3)) + row
total_px, total_se = sums["all"][:2]
for name, (px, se, near) in sums.items():
    print(f"{name:30s} pixels {px / total_px:6.1%}  sq-error {se / total_se:6.1%}  "
          f"RMSE {np.sqrt(se / max(px, 1)):.3f}  too near {near / max(se, 1e-9):5.1%}")
