"""Confidence-weighted fusion of the stereo matcher's depth with the mono network's
(``model.stereo_matcher``; DESIGN.md §2.5).

The final depth follows stereo where its confidence is high and the mono network where
matching has no evidence (textureless, occluded, outside the right view). The mono depth is
first put on the stereo's scale (one log-scale per image from the confident pixels, so a mono
prior trained on another camera or scene scale becomes usable), then a small network predicts
the per-pixel weight of the stereo log depth from the confidence, the log ratio of the two
and the left image. Its output layer starts at zero: a new fusion is
``sigmoid(8 (confidence - 1/2))``.

``local`` (> 0) adds a third candidate, the mono depth on the *local* stereo scale: the
confidence-weighted mean log ratio over a ``local`` x ``local`` window at stride 4 (4 *
``local`` input pixels), falling back to the image's scale where the window holds little
confident stereo. It carries the mono shape on the stereo's low-pass depth: less noisy than
per-pixel stereo where disparities are small (far), and stereo-scaled where matching is
locally missing. A second output of the network weighs it against the globally scaled mono:
``fused = exp(w log s + (1 - w) (a log m_local + (1 - a) log m))``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .stereo_matcher import _conv, _ResBlock, _up2

#: confident-stereo share of a local window at which the local scale counts half
LOCAL_EVIDENCE = 0.05


def _log_depth(depth: Tensor) -> Tensor:
    return torch.log(depth.clamp_min(1e-3))


def fusion_blocks(state: dict[str, Tensor]) -> int:
    """``StereoMonoFusion(blocks=...)`` of a fusion state."""
    return sum(f"net.{i}.c1.0.weight" in state for i in (1, 2))


class StereoMonoFusion(nn.Module):
    """Confidence-weighted fusion of stereo and mono depth (module docstring).

    ``forward(stereo_depth, confidence, mono_depth, image, disparity)`` -> (fused depth,
    stereo weight). Both depths in the same units (metres at the canonical focal inside
    ``IIDRDepth``); ``disparity`` is the matcher's, in network-input pixels: a disparity error
    of a fraction of a pixel is a large depth error where the disparity is small (far), so the
    weight may depend on it (``log1p(d) / 4``, the one absolute, camera-bound input).
    ``local``: window (stride-4 pixels, odd) of the locally scaled mono candidate; 0 = none.
    ``blocks``: residual blocks of the weight network (0..2; dilations 1, 2).
    """

    def __init__(self, hidden: int = 16, min_evidence: float = 1e-3, local: int = 0,
                 blocks: int = 2) -> None:
        super().__init__()
        if local < 0 or (local and local % 2 == 0):
            raise ValueError(f"local window must be 0 or odd, got {local}")
        if not 0 <= blocks <= 2:
            raise ValueError(f"blocks must be 0, 1 or 2, got {blocks}")
        self.min_evidence = min_evidence
        self.local = local
        extra, outputs = (3, 2) if local else (0, 1)
        self.net = nn.Sequential(_conv(3 + 5 + extra, hidden),
                                 *(_ResBlock(hidden, d) for d in (1, 2)[:blocks]),
                                 nn.Conv2d(hidden, outputs, 3, padding=1))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)
        # starts as "weight = sigmoid(8 (confidence - 1/2))"
        self.conf_gain = nn.Parameter(torch.tensor(8.0))
        self.conf_bias = nn.Parameter(torch.tensor(0.0))

    @staticmethod
    def _evidence(confidence: Tensor) -> Tensor:
        return confidence * (confidence > 0.5).to(confidence.dtype)

    def align_scale(self, stereo_depth: Tensor, confidence: Tensor, mono_depth: Tensor) -> Tensor:
        """(B, 1, 1, 1) log scale putting the mono depth on the stereo's scale: the
        confidence-weighted mean log ratio (0 where there is no confident stereo pixel)."""
        return self._log_scale(_log_depth(stereo_depth) - _log_depth(mono_depth), confidence)

    def _log_scale(self, log_ratio: Tensor, confidence: Tensor) -> Tensor:
        w = self._evidence(confidence)
        num = (w * log_ratio).sum(dim=(2, 3), keepdim=True)
        den = w.sum(dim=(2, 3), keepdim=True)
        return num / (den + self.min_evidence * log_ratio.shape[-1] * log_ratio.shape[-2])

    def local_scale(self, log_ratio: Tensor, confidence: Tensor) -> tuple[Tensor, Tensor]:
        """(log-scale correction, evidence in 0..1), both (B, 1, H, W): the confidence-weighted
        mean of ``log_ratio`` over the ``local`` window at stride 4, shrunk towards 0 (the
        image's own scale) where the window holds little confident stereo."""
        w = self._evidence(confidence)
        k = self.local
        num = F.avg_pool2d(F.avg_pool2d(w * log_ratio, 4), k, 1, k // 2,
                           count_include_pad=False)
        den = F.avg_pool2d(F.avg_pool2d(w, 4), k, 1, k // 2, count_include_pad=False)
        evidence = den / (den + LOCAL_EVIDENCE)
        correction = num / (den + 1e-6) * evidence
        up = (lambda x: F.interpolate(x, scale_factor=4.0, mode="bilinear", align_corners=False))
        return up(correction), up(evidence)

    def forward(self, stereo_depth: Tensor, confidence: Tensor, mono_depth: Tensor,
                image: Tensor, disparity: Tensor) -> tuple[Tensor, Tensor]:
        log_s, log_m = _log_depth(stereo_depth), _log_depth(mono_depth)
        log_m = log_m + self._log_scale(log_s - log_m, confidence)
        diff = (log_s - log_m).clamp(-3, 3)
        parts = [image - 0.5, confidence, diff, diff.abs(),
                 torch.log1p(disparity.clamp_min(0)) * 0.25,
                 log_m - log_m.mean(dim=(2, 3), keepdim=True)]
        if self.local:
            correction, evidence = self.local_scale(log_s - log_m, confidence)
            log_local = log_m + correction
            diff_local = (log_s - log_local).clamp(-3, 3)
            parts += [diff_local, diff_local.abs(), evidence]
        logits = _up2(self.net(F.avg_pool2d(torch.cat(parts, 1), 2)))
        logit = logits[:, :1] + self.conf_gain * (confidence - 0.5) + self.conf_bias
        weight = torch.sigmoid(logit)
        if self.local:
            share = torch.sigmoid(logits[:, 1:2])
            log_m = share * log_local + (1 - share) * log_m
        fused = torch.exp(weight * log_s + (1 - weight) * log_m)
        return fused, weight
