"""Per-frame scoring and summaries shared by the offline and the live bag evaluation.

The protocol is the one of ``evaluation.metrics`` (KITTI/Eigen: ``min_depth < gt < max_depth``,
prediction clipped to the range, no median scaling, mean of per-frame metrics). A prediction
without depth (NaN) at a valid ground-truth pixel is left out and shows in ``coverage``.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def resize_nearest(depth: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize (keeps NaN where there was no depth)."""
    if depth.shape == tuple(hw):
        return depth
    h, w = depth.shape
    rows = np.clip(((np.arange(hw[0]) + 0.5) * h / hw[0]).astype(np.intp), 0, h - 1)
    cols = np.clip(((np.arange(hw[1]) + 0.5) * w / hw[1]).astype(np.intp), 0, w - 1)
    return depth[rows[:, None], cols[None, :]]


def score(acc: Any, pred: np.ndarray, gt: np.ndarray) -> dict[str, Any] | None:
    """Add one frame to a ``MetricAccumulator``; its metrics plus ``coverage`` (share of valid
    ground-truth pixels with a finite prediction), or None without valid ground truth."""
    from iid_rdepth_ros.evaluation.metrics import METRIC_KEYS, valid_mask

    pred = resize_nearest(np.asarray(pred, dtype=np.float32), gt.shape)
    valid = valid_mask(gt, acc.min_depth, acc.max_depth, acc.garg_crop)
    has = np.isfinite(pred)
    n_valid = int(valid.sum())
    if n_valid == 0 or not (valid & has).any():
        acc.skipped += 1
        return None
    metrics = acc.update(pred, gt, mask=has)
    if metrics is None:
        return None
    out = {k: metrics[k] for k in METRIC_KEYS}
    out["pixels"] = int(metrics["pixels"])
    out["coverage"] = float(int((valid & has).sum()) / n_valid)
    return out


def latency_stats(values_ms: list[float]) -> dict[str, float | int | None]:
    """Mean, p50, p95, max (ms) and the rate they allow (frames/s)."""
    v = np.asarray([x for x in values_ms if x is not None and np.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return {"frames": 0, "mean_ms": None, "p50_ms": None, "p95_ms": None, "max_ms": None,
                "fps": None}
    return {"frames": int(v.size), "mean_ms": round(float(v.mean()), 2),
            "p50_ms": round(float(np.percentile(v, 50)), 2),
            "p95_ms": round(float(np.percentile(v, 95)), 2),
            "max_ms": round(float(v.max()), 2), "fps": round(1000.0 / float(v.mean()), 2)}


def sample_indices(n_images: int, k: int) -> list[int]:
    """``k`` image positions spread over a sequence of ``n_images`` (first, ..., last)."""
    if n_images <= 0 or k <= 0:
        return []
    return sorted({int(round(x)) for x in np.linspace(0, n_images - 1, min(k, n_images))})


def overall(acc: Any, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean of per-frame metrics (``acc.result()``) plus the mean coverage."""
    result = acc.result()
    cov = [r["coverage"] for r in rows if r.get("coverage") is not None]
    result["coverage"] = float(np.mean(cov)) if cov else None
    return result
