"""Diagnostic (issue 2): where a model's squared depth error lies on synth-street.

    python scripts/probe_error_regions.py CHECKPOINT SYNTH_DIR [EVERY] [--aux]

On every EVERY-th frame (default 5), splits the dense-GT pixels into those the sparse LiDAR
can supervise (at or below the highest return of their column) and those above it (upper
facades: never supervised in training), and into depth ranges; prints each region's share of
pixels and of squared error and its RMSE (pooled over pixels).
"""

import sys

import numpy as np
import torch
from iid_rdepth_ros.training.synth.dataset import SynthStreetDataset
from scipy.ndimage import minimum_filter1d

from iid_rdepth_ros.model.checkpoint import load_checkpoint

torch.set_num_threads(2)
args = [a for a in sys.argv[1:] if a != "--aux"]
use_aux = "--aux" in sys.argv
model, card = load_checkpoint(args[0])
model.eval()
ds = SynthStreetDataset(args[1])
every = int(args[2]) if len(args) > 2 else 5
canonical = model.cfg.canonical_focal
regions: dict[str, list[np.ndarray]] = {}
for i in range(0, len(ds), every):
    it = ds[i]
    img = torch.from_numpy(it["image"]).permute(2, 0, 1)[None].float() / 255
    aux = torch.from_numpy(it["aux"]).permute(2, 0, 1)[None].float() / 255 if use_aux else None
    gt, lidar = it["depth"], it["lidar"]
    fb = canonical * it["baseline_m"] if use_aux else None
    with torch.no_grad():
        pred = model(img, aux, fb).numpy()[0, 0] * it["fx"] / canonical
    pred = np.clip(pred, 1e-3, 80)
    v = (gt > 1e-3) & (gt <= 80)
    rows = np.arange(gt.shape[0])[:, None]
    has = lidar > 0
    top = np.where(has.any(0), has.argmax(0), gt.shape[0])  # highest return per column
    # azimuth samples skip columns: take the highest return within +-8 columns
    top = minimum_filter1d(top, 17, mode="nearest")[None, :]
    above = rows < top
    err = (pred - gt) ** 2
    masks = {"all": v, "below top LiDAR return": v & ~above, "above it": v & above,
             "< 20 m": v & (gt < 20), "20-40 m": v & (gt >= 20) & (gt < 40),
             ">= 40 m": v & (gt >= 40), "above & >= 40 m": v & above & (gt >= 40)}
    for name, m in masks.items():
        regions.setdefault(name, []).append(err[m])
total_px = sum(x.size for x in regions["all"])
total_se = sum(float(x.sum()) for x in regions["all"])
for name, parts in regions.items():
    e = np.concatenate(parts)
    print(f"{name:24s} pixels {e.size / total_px:6.1%}  sq-error {e.sum() / total_se:6.1%}  "
          f"RMSE {np.sqrt(e.mean()) if e.size else float('nan'):.3f}")
