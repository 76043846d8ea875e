"""Diagnostic (issue 2): how much of a model's squared depth error lies at depth edges.

    python scripts/probe_edge_errors.py CHECKPOINT SYNTH_DIR [EVERY] [--aux]

On every EVERY-th frame (default 4), splits the dense-GT pixels into: hidden from the right
camera by a nearer surface (from the ground-truth disparity); other pixels within 3 px of a
ground-truth depth edge (log-depth range over 7x7 above 0.15), on its far or near side; and the
rest. Prints each class's share of pixels and of squared error, its RMSE (pooled over pixels)
and the share of its squared error where the prediction is too near.
"""

import sys

import numpy as np
import torch
from iid_rdepth_ros.training.synth.dataset import SynthStreetDataset
from scipy.ndimage import maximum_filter, minimum_filter

from iid_rdepth_ros.model.checkpoint import load_checkpoint


def hidden_from_right(disparity: np.ndarray) -> np.ndarray:
    """Pixels whose right-view position x - d is covered by a pixel further right that lands
    further left (a nearer surface)."""
    x_right = np.arange(disparity.shape[1])[None, :] - disparity
    right_min = np.minimum.accumulate(x_right[:, ::-1], axis=1)[:, ::-1]
    beyond = np.concatenate([right_min[:, 1:], np.full((disparity.shape[0], 1), np.inf)], 1)
    return beyond < x_right - 0.5


torch.set_num_threads(2)
args = [a for a in sys.argv[1:] if a != "--aux"]
use_aux = "--aux" in sys.argv
model, _ = load_checkpoint(args[0])
model.eval()
ds = SynthStreetDataset(args[1])
every = int(args[2]) if len(args) > 2 else 4
canonical = model.cfg.canonical_focal
sums: dict[str, np.ndarray] = {}  # pixels, squared error, squared error where too near
for i in range(0, len(ds), every):
    it = ds[i]
    img = torch.from_numpy(it["image"]).permute(2, 0, 1)[None].float() / 255
    aux = torch.from_numpy(it["aux"]).permute(2, 0, 1)[None].float() / 255 if use_aux else None
    fb = canonical * it["baseline_m"] if use_aux else None
    gt = it["depth"]
    with torch.no_grad():
        pred = np.clip(model(img, aux, fb).numpy()[0, 0] * it["fx"] / canonical, 1e-3, 80)
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
