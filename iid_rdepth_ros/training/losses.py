"""Depth losses.

SILog (Eigen et al. 2014, in the form used by BTS / AdaBins / PixelFormer)::

    g_i  = log(pred_i) - log(gt_i)            over valid pixels i of the whole batch
    D    = mean(g^2) - lambda * mean(g)^2      (lambda = 0.85)
    loss = scale * sqrt(D)                     (scale = 10)

Valid pixels: ``min_depth <= gt <= max_depth`` (so ``gt <= 0``, "no measurement", is always
excluded) and, when given, ``mask``. The square root makes the loss read like a log-RMSE in
percent; with lambda < 1, ``D >= (1 - lambda) * mean(g)^2 >= 0``, and ``D`` is clamped at a
tiny epsilon so the gradient stays finite at a perfect prediction. A batch without any valid
pixel returns a zero that is still connected to ``pred`` (zero gradient, never NaN).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

SILOG_LAMBDA = 0.85
SILOG_SCALE = 10.0


def valid_mask(gt: torch.Tensor, min_depth: float, max_depth: float) -> torch.Tensor:
    """Boolean mask of pixels whose ground truth lies in ``[min_depth, max_depth]``."""
    if min_depth <= 0:
        raise ValueError(f"min_depth must be > 0, got {min_depth}")
    return (gt >= min_depth) & (gt <= max_depth)


def silog_loss(pred: torch.Tensor, gt: torch.Tensor, *, min_depth: float = 1e-3,
               max_depth: float = 80.0, mask: torch.Tensor | None = None,
               lam: float = SILOG_LAMBDA, scale: float = SILOG_SCALE,
               eps: float = 1e-8) -> torch.Tensor:
    """Scale-invariant log loss over the valid pixels of ``gt`` (any matching shape)."""
    if pred.shape != gt.shape:
        raise ValueError(f"pred shape {tuple(pred.shape)} != gt shape {tuple(gt.shape)}")
    if not 0 <= lam <= 1:
        raise ValueError(f"lambda must be in [0, 1], got {lam}")
    valid = valid_mask(gt, min_depth, max_depth)
    if mask is not None:
        valid = valid & mask.to(torch.bool)
    if not bool(valid.any()):
        return pred.sum() * 0.0
    g = torch.log(pred[valid].clamp_min(min_depth)) - torch.log(gt[valid])
    d = (g * g).mean() - lam * g.mean() ** 2
    return scale * torch.sqrt(d.clamp_min(eps))


def silog_loss_global(pred: torch.Tensor, gt: torch.Tensor, *, min_depth: float = 1e-3,
                      max_depth: float = 80.0, world: int = 1,
                      all_sum: Callable[[torch.Tensor], torch.Tensor] | None = None,
                      lam: float = SILOG_LAMBDA, scale: float = SILOG_SCALE,
                      eps: float = 1e-8) -> tuple[torch.Tensor, torch.Tensor]:
    """SILog over the pixels of a batch that is split across ``world`` data-parallel replicas.

    ``all_sum`` sums a detached tensor over the replicas (``distributed.all_sum``). Returns
    ``(surrogate, value)``: ``value`` is the loss of the whole (global) batch, the same on every
    replica; ``surrogate`` is linear in this replica's ``g`` with the global statistics as
    constants, scaled by ``world`` so that DDP's gradient *average* over the replicas equals
    the gradient of the global loss::

        dL/dg_i = scale / sqrt(D) * (g_i / n - lambda * S1 / n^2),  S1 = sum g, n = #pixels
    """
    if pred.shape != gt.shape:
        raise ValueError(f"pred shape {tuple(pred.shape)} != gt shape {tuple(gt.shape)}")
    valid = valid_mask(gt, min_depth, max_depth)
    g = torch.log(pred[valid].clamp_min(min_depth)) - torch.log(gt[valid])
    gd = g.detach().double()
    stats = torch.stack([gd.sum(), (gd * gd).sum(),
                         torch.tensor(float(g.numel()), dtype=torch.float64, device=g.device)])
    if all_sum is not None:
        stats = all_sum(stats)
    s1, s2, n = (float(v) for v in stats.cpu())
    anchor = pred.sum() * 0.0  # keeps the graph connected when this replica has no pixel
    if n == 0:
        return anchor, anchor.detach()
    d = s2 / n - lam * (s1 / n) ** 2
    if d <= eps:  # silog_loss clamps D here: value at the clamp, zero gradient
        return anchor, torch.full((), scale * eps ** 0.5, device=pred.device)
    root = d ** 0.5
    c1 = scale / (2.0 * root * n)
    c2 = -scale * lam * s1 / (root * n * n)
    surrogate = world * (c1 * (g * g).sum() + c2 * g.sum()) + anchor
    return surrogate, torch.full((), scale * root, device=pred.device)


def log_l1_loss(log_pred: torch.Tensor, gt: torch.Tensor, *, min_depth: float = 1e-3,
                max_depth: float = 80.0, sq_weight: float = 0.0) -> torch.Tensor:
    """Mean ``|log_pred - log gt|`` over the valid pixels of ``gt`` (``log_pred`` is a log
    depth of the same shape), plus ``sq_weight`` x its mean square (weighs the large errors
    that dominate a metric RMSE: far pixels, outliers). Scale-aware, unlike SILog: for a
    stereo depth, whose scale comes from the geometry. Zero (still connected to
    ``log_pred``) without a valid pixel."""
    if log_pred.shape != gt.shape:
        raise ValueError(f"log_pred shape {tuple(log_pred.shape)} != gt shape "
                         f"{tuple(gt.shape)}")
    valid = valid_mask(gt, min_depth, max_depth)
    if not bool(valid.any()):
        return log_pred.sum() * 0.0
    err = log_pred[valid] - torch.log(gt[valid])
    loss = err.abs().mean()
    return loss + sq_weight * (err * err).mean() if sq_weight else loss

