"""Standard depth metrics (KITTI / Eigen protocol), per frame and aggregated over frames.

Protocol: ground truth is valid where ``min_depth < gt < max_depth``; predictions are clipped
to ``[min_depth, max_depth]``; no median scaling (metric depth). Optionally the Garg crop.

Metrics over the valid pixels of one frame, with ``e = ln(pred) - ln(gt)``:

- ``abs_rel`` mean(|pred - gt| / gt); ``sq_rel`` mean((pred - gt)^2 / gt)
- ``rmse`` sqrt(mean((pred - gt)^2)) [m]; ``rmse_log`` sqrt(mean(e^2))
- ``log10`` mean(|log10 pred - log10 gt|)
- ``silog`` sqrt(mean(e^2) - mean(e)^2) * 100 (natural log, lambda = 1, x100: the KITTI depth
  benchmark's convention)
- ``d1, d2, d3`` fraction of pixels with max(pred/gt, gt/pred) < 1.25, 1.25^2, 1.25^3

Aggregation over a data set (``MetricAccumulator``): each metric is computed per frame and the
per-frame values are averaged with equal weight per frame, as the KITTI literature does (Eigen
et al. 2014 and the code bases that follow it), not pooled over all pixels.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

METRIC_KEYS: tuple[str, ...] = (
    "abs_rel", "sq_rel", "rmse", "rmse_log", "log10", "silog", "d1", "d2", "d3"
)
LOWER_IS_BETTER = frozenset({"abs_rel", "sq_rel", "rmse", "rmse_log", "log10", "silog"})

# Garg et al. (ECCV 2016) crop, as fractions of the image height / width.
GARG_ROWS = (0.40810811, 0.99189189)
GARG_COLS = (0.03594771, 0.96405229)


def _as_array(x: object, name: str) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor, without importing torch here
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    return arr


def garg_crop_mask(shape: tuple[int, ...]) -> np.ndarray:
    """Boolean mask of the Garg crop for an image of ``shape`` (last two dims = H, W).

    Rows ``int(0.40810811 H) .. int(0.99189189 H)`` and columns ``int(0.03594771 W) ..
    int(0.96405229 W)``, end-exclusive, as in the reference evaluation code.
    """
    if len(shape) < 2:
        raise ValueError(f"need at least 2 dims (H, W), got shape {shape}")
    h, w = shape[-2], shape[-1]
    mask = np.zeros((h, w), dtype=bool)
    r0, r1 = int(GARG_ROWS[0] * h), int(GARG_ROWS[1] * h)
    c0, c1 = int(GARG_COLS[0] * w), int(GARG_COLS[1] * w)
    mask[r0:r1, c0:c1] = True
    return np.broadcast_to(mask, tuple(shape))


def valid_mask(
    gt: np.ndarray,
    min_depth: float = 1e-3,
    max_depth: float = 80.0,
    garg_crop: bool = False,
) -> np.ndarray:
    """Pixels that count: finite ``min_depth < gt < max_depth``, inside the Garg crop if asked."""
    gt = _as_array(gt, "gt")
    with np.errstate(invalid="ignore"):
        mask = np.isfinite(gt) & (gt > min_depth) & (gt < max_depth)
    if garg_crop:
        mask &= garg_crop_mask(gt.shape)
    return mask


def compute_metrics(
    pred: np.ndarray,
    gt: np.ndarray,
    min_depth: float = 1e-3,
    max_depth: float = 80.0,
    garg_crop: bool = False,
    mask: np.ndarray | None = None,
) -> dict[str, float]:
    """Metrics of one frame (see module docstring) over its valid pixels.

    ``pred`` and ``gt`` are depth in metres with the same shape (``(H, W)``, or with leading
    singleton dims). ``mask`` (optional, same shape) further restricts the pixels, e.g. to where
    another method produced depth. Returns the ``METRIC_KEYS`` plus ``pixels`` (count used).
    Raises ValueError on mismatched shapes, no valid pixels, or non-finite predictions at
    valid pixels.
    """
    if not 0 < min_depth < max_depth:
        raise ValueError(f"need 0 < min_depth < max_depth, got {min_depth}, {max_depth}")
    pred = _as_array(pred, "pred")
    gt = _as_array(gt, "gt")
    if pred.shape != gt.shape:
        raise ValueError(f"pred shape {pred.shape} != gt shape {gt.shape}")
    if gt.ndim < 2:
        raise ValueError(f"pred/gt must be images (H, W), got shape {gt.shape}")
    valid = valid_mask(gt, min_depth, max_depth, garg_crop)
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != gt.shape:
            raise ValueError(f"mask shape {mask.shape} != gt shape {gt.shape}")
        valid &= mask.astype(bool)
    n = int(valid.sum())
    if n == 0:
        raise ValueError("no valid ground-truth pixels in this frame")
    p = pred[valid].astype(np.float64)
    g = gt[valid].astype(np.float64)
    bad = int((~np.isfinite(p)).sum())
    if bad:
        raise ValueError(f"pred is not finite at {bad} valid pixels; pass mask= to exclude them")
    p = np.clip(p, min_depth, max_depth)

    diff = p - g
    e = np.log(p) - np.log(g)
    ratio = np.maximum(p / g, g / p)
    e_mean = e.mean()
    e_sq = (e**2).mean()
    return {
        "abs_rel": float(np.mean(np.abs(diff) / g)),
        "sq_rel": float(np.mean(diff**2 / g)),
        "rmse": float(np.sqrt(np.mean(diff**2))),
        "rmse_log": float(np.sqrt(e_sq)),
        "log10": float(np.mean(np.abs(np.log10(p) - np.log10(g)))),
        "silog": float(np.sqrt(max(e_sq - e_mean**2, 0.0)) * 100.0),
        "d1": float(np.mean(ratio < 1.25)),
        "d2": float(np.mean(ratio < 1.25**2)),
        "d3": float(np.mean(ratio < 1.25**3)),
        "pixels": n,
    }


class MetricAccumulator:
    """Averages per-frame metrics over frames (equal weight per frame; KITTI convention).

    Frames without any valid pixel are counted in ``skipped`` and do not enter the mean.
    """

    def __init__(
        self, min_depth: float = 1e-3, max_depth: float = 80.0, garg_crop: bool = False
    ) -> None:
        self.min_depth = min_depth
        self.max_depth = max_depth
        self.garg_crop = garg_crop
        self.per_frame: list[dict[str, float]] = []
        self.skipped = 0

    def update(
        self, pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None
    ) -> dict[str, float] | None:
        """Add one frame; returns its metrics, or None if it had no valid pixel."""
        gt_arr = _as_array(gt, "gt")
        valid = valid_mask(gt_arr, self.min_depth, self.max_depth, self.garg_crop)
        if mask is not None:
            valid = valid & np.asarray(mask, dtype=bool)
        if not valid.any():
            self.skipped += 1
            return None
        m = compute_metrics(pred, gt_arr, self.min_depth, self.max_depth, self.garg_crop, mask)
        self.per_frame.append(m)
        return m

    def add(self, metrics: dict[str, float]) -> None:
        """Add the already computed metrics of one frame."""
        missing = [k for k in METRIC_KEYS if k not in metrics]
        if missing:
            raise ValueError(f"frame metrics lack keys {missing}")
        self.per_frame.append(dict(metrics))

    @property
    def frames(self) -> int:
        return len(self.per_frame)

    def result(self) -> dict[str, float]:
        """Mean of each metric over frames, plus ``frames`` (and ``skipped``)."""
        if not self.per_frame:
            raise ValueError("no frames with valid ground truth were evaluated")
        out: dict[str, float] = {
            k: float(np.mean([m[k] for m in self.per_frame])) for k in METRIC_KEYS
        }
        out["frames"] = self.frames
        out["skipped"] = self.skipped
        return out


def mean_metrics(frames: Iterable[dict[str, float]]) -> dict[str, float]:
    """Frame-averaged metrics of already computed per-frame dicts (``frames`` included)."""
    acc = MetricAccumulator()
    for m in frames:
        acc.add(m)
    return acc.result()


def abs_rel_map(
    pred: np.ndarray, gt: np.ndarray, min_depth: float = 1e-3, max_depth: float = 80.0
) -> np.ndarray:
    """Per-pixel ``|pred - gt| / gt`` (pred clipped as in ``compute_metrics``), float32 (H, W).

    NaN where the ground truth is invalid or the prediction is not finite.
    """
    pred = _as_array(pred, "pred").astype(np.float64)
    gt = _as_array(gt, "gt").astype(np.float64)
    if pred.shape != gt.shape:
        raise ValueError(f"pred shape {pred.shape} != gt shape {gt.shape}")
    valid = valid_mask(gt, min_depth, max_depth) & np.isfinite(pred)
    p = np.clip(np.where(valid, pred, 1.0), min_depth, max_depth)
    g = np.where(valid, gt, 1.0)
    return np.where(valid, np.abs(p - g) / g, np.nan).astype(np.float32)


def ratio_interval(num: Iterable[float], den: Iterable[float], groups: Iterable[object],
                   confidence: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Interval of ``mean(num) / mean(den)`` (paired per-frame values, e.g. two models' RMSE on
    the same frames) from a percentile bootstrap that resamples whole ``groups`` (sequences):
    frames of one sequence share a street, so resampling single frames would overstate the
    certainty. Returns ``(low, high)`` at ``confidence``."""
    from scipy.stats import bootstrap

    num_a, den_a = np.asarray(list(num), float), np.asarray(list(den), float)
    group_a = np.asarray([str(g) for g in groups])
    if not num_a.size or num_a.shape != den_a.shape or group_a.shape != num_a.shape:
        raise ValueError(f"num, den and groups must be non-empty and of one length, got "
                         f"{num_a.size}, {den_a.size}, {group_a.size}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    ids, group_index = np.unique(group_a, return_inverse=True)
    if ids.size < 2:
        raise ValueError("a bootstrap over groups needs at least two groups")
    # a resampled mean ratio is a ratio of sums over the drawn groups (frame counts cancel)
    num_g = np.bincount(group_index, weights=num_a)
    den_g = np.bincount(group_index, weights=den_a)
    res = bootstrap((num_g, den_g), lambda n, d, axis=-1: n.sum(axis) / d.sum(axis),
                    paired=True, vectorized=True, confidence_level=confidence,
                    method="percentile", rng=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)
