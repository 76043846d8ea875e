"""Diagnostic (issue 2): where a model's squared depth error lies on synth-street.

    python scripts/probe_error_regions.py CHECKPOINT SYNTH_DIR [EVERY] [--aux]

On every EVERY-th frame (default 5), splits the dense-GT pixels into those the sparse LiDAR
can supervise (at or below the highest return of their column) and those above it (upper
facades: never supervised in training), and into depth ranges; prints each region's share of
pixels and of squared error and its RMSE (pooled over pixels).
"""

import numpy as np
from probe_common import metric_depth, open_probe
from scipy.ndimage import minimum_filter1d

model, ds, every, use_aux = open_probe(default_every=5)
regions: dict[str, list[np.ndarray]] = {}
for i in range(0, len(ds), every):
    it = ds[i]
    gt, lidar = it["depth"], it["lidar"]
    pred = metric_depth(model, it, use_aux)
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
