"""Confidence-weighted fusion of the stereo matcher's depth with the mono network's
(``model.stereo_matcher``; DESIGN.md §2.5).

The final depth follows stereo where its confidence is high and the mono network where
matching has no evidence (textureless, occluded, outside the right view). The mono depth is
first put on the stereo's scale (one log-scale per image from the confident pixels, so a mono
prior trained on another camera or scene scale becomes usable), then a small network predicts
the per-pixel weight of the stereo log depth from the confidence, the log ratio of the two
and the left image. Its output layer starts at zero: a new fusion is
``sigmoid(8 (confidence - 1/2))``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .stereo_matcher import _conv, _ResBlock, _up2


def _log_depth(depth: Tensor) -> Tensor:
    return torch.log(depth.clamp_min(1e-3))


class StereoMonoFusion(nn.Module):
    """Confidence-weighted fusion of stereo and mono depth (module docstring).

    ``forward(stereo_depth, confidence, mono_depth, image, disparity)`` -> (fused depth,
    stereo weight). Both depths in the same units (metres at the canonical focal inside
    ``IIDRDepth``); ``disparity`` is the matcher's, in network-input pixels: a disparity error
    of a fraction of a pixel is a large depth error where the disparity is small (far), so the
    weight may depend on it (``log1p(d) / 4``, the one absolute, camera-bound input).
    """

    def __init__(self, hidden: int = 16, min_evidence: float = 1e-3) -> None:
        super().__init__()
        self.min_evidence = min_evidence
        self.net = nn.Sequential(_conv(3 + 5, hidden), _ResBlock(hidden, 1), _ResBlock(hidden, 2),
                                 nn.Conv2d(hidden, 1, 3, padding=1))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)
        # starts as "weight = sigmoid(8 (confidence - 1/2))"
        self.conf_gain = nn.Parameter(torch.tensor(8.0))
        self.conf_bias = nn.Parameter(torch.tensor(0.0))

    def align_scale(self, stereo_depth: Tensor, confidence: Tensor, mono_depth: Tensor) -> Tensor:
        """(B, 1, 1, 1) log scale putting the mono depth on the stereo's scale: the
        confidence-weighted mean log ratio (0 where there is no confident stereo pixel)."""
        return self._log_scale(_log_depth(stereo_depth) - _log_depth(mono_depth), confidence)

    def _log_scale(self, log_ratio: Tensor, confidence: Tensor) -> Tensor:
        w = confidence * (confidence > 0.5).to(confidence.dtype)
        num = (w * log_ratio).sum(dim=(2, 3), keepdim=True)
        den = w.sum(dim=(2, 3), keepdim=True)
        return num / (den + self.min_evidence * log_ratio.shape[-1] * log_ratio.shape[-2])

    def forward(self, stereo_depth: Tensor, confidence: Tensor, mono_depth: Tensor,
                image: Tensor, disparity: Tensor) -> tuple[Tensor, Tensor]:
        log_s, log_m = _log_depth(stereo_depth), _log_depth(mono_depth)
        log_m = log_m + self._log_scale(log_s - log_m, confidence)
        diff = (log_s - log_m).clamp(-3, 3)
        inputs = torch.cat([image - 0.5, confidence, diff, diff.abs(),
                            torch.log1p(disparity.clamp_min(0)) * 0.25,
                            log_m - log_m.mean(dim=(2, 3), keepdim=True)], 1)
        logit = self.net(F.avg_pool2d(inputs, 2))
        logit = _up2(logit) + self.conf_gain * (confidence - 0.5) + self.conf_bias
        weight = torch.sigmoid(logit)
        fused = torch.exp(weight * log_s + (1 - weight) * log_m)
        return fused, weight
