"""Which left-view pixels the right view also sees: the occlusion mask of a rendered pair.

Values (uint8): `VISIBLE` (0) the surface point is visible in the right view (a true match
exists), `OCCLUDED` (1) another surface is in front of it in the right view, `OUTSIDE` (2) it
projects outside the right image, `NO_DEPTH` (255) the left pixel has no depth (sky).

A left pixel (u, v) with depth Z projects to (u - disparity(Z), v + dy) in the right view
(`StereoCamera.disparity`, the true vertical offset `dy_px`). It is visible when Z lies within
the range of the right view's depths at the 2x2 pixels around that point (widened by `rel_tol`):
an occluder in front makes all four nearer.
"""

from __future__ import annotations

import numpy as np

from .cameras import StereoCamera

VISIBLE, OCCLUDED, OUTSIDE, NO_DEPTH = 0, 1, 2, 255


def occlusion_mask(depth: np.ndarray, depth_right: np.ndarray, cam: StereoCamera,
                   rel_tol: float = 0.01) -> np.ndarray:
    """(H, W) uint8 mask of the left view (values above) from both views' dense depth."""
    h, w = depth.shape
    valid = depth > 0
    ur = np.arange(w, dtype=np.float64)[None, :] - cam.disparity(depth)
    vr = np.broadcast_to(np.arange(h, dtype=np.float64)[:, None] + cam.dy_px, (h, w))
    inside = valid & (ur >= -0.5) & (ur <= w - 0.5) & (vr >= -0.5) & (vr <= h - 0.5)
    u0, v0 = np.floor(ur).astype(np.int64), np.floor(vr).astype(np.int64)
    lo = np.full((h, w), np.inf)
    hi = np.zeros((h, w))
    for du in (0, 1):
        for dv in (0, 1):
            tap = depth_right[np.clip(v0 + dv, 0, h - 1), np.clip(u0 + du, 0, w - 1)]
            has = tap > 0
            lo = np.where(has, np.minimum(lo, tap), lo)
            hi = np.where(has, np.maximum(hi, tap), hi)
    z = depth.astype(np.float64)
    seen = inside & (z >= lo * (1 - rel_tol)) & (z <= hi * (1 + rel_tol))
    out = np.full((h, w), NO_DEPTH, np.uint8)
    out[valid] = OUTSIDE
    out[inside] = OCCLUDED
    out[seen] = VISIBLE
    return out
