"""AV-LFE stereo refinement: a parameter-free, full-resolution check of the output depth
against the auxiliary view (stereo only; runs after the decoder, at the input size).

Why: AV-LFE matches on stride-4 features, where 40 m is 1.3 px of disparity, so its cue is
coarse. At full resolution, plain window matching is far more precise than the network
where it is right (synth-street validation: SGBM's median error is 5-10x below the network's
at every range) but its RMSE is ruined by gross mismatches. Searching only in a band around
the network's own disparity keeps the precision and avoids most gross mismatches; where no
strong match is near, the network's depth stays.

For each pixel with predicted depth ``Z`` (canonical focal) and ``d0 = fb / Z`` (pixels of
the input): ``refine_candidates`` disparities span ``d0 +- max(refine_band * d0,
refine_min_band)``; each is scored by the zero-mean normalised cross-correlation (ZNCC) of
grey ``refine_window``-square windows (box filters, separable; borders use the valid part);
a parabola through the best score and its neighbours gives the sub-candidate disparity. A
match counts where the best ZNCC exceeds ``refine_confidence`` and is not at either end of the
band (the true disparity is then likely outside it); its weight rises linearly from 0 at that
confidence to 1 at ZNCC 1.

The matches do not replace the depth pixel by pixel: their log ratio refined / predicted is
averaged, weighted, over square boxes, per log-depth layer (``refine_layers`` hat functions
between 1 m and max_depth, so a facade's correction does not bleed onto the car in front of
it), and every pixel takes that correction. Boxes of several sizes (``refine_spread``) form a
pyramid: a finer box's average is used in full where its matches cover at least
``refine_share`` of it (layer-weighted), blended towards the next coarser one below that;
where even the coarsest box holds under 1 % matches the network's depth stays. The network's
errors are mostly smooth in scale over a surface, and single matches are noisy (about 0.2 px
at synth-street's far range), so averaging many beats trusting each (synth-street validation,
`iid-rdepth evaluate --aux on`, RMSE of the 600-step default: network 3.30; matches replaced
and one 63-px spread box 2.56; this pyramid with weighted matches 2.29; 1800-step default on
1600 frames: network 3.06, this pyramid 2.15; on 6400 frames: 2.59 and 2.04; the shipped one,
stage 2 from a full 3300-step stage 1: 2.71 and 2.01). Nothing is learned: the module adds no
parameters and training (which runs on cached features, without images) never sees it. Every
op (GatherElements, AveragePool, ArgMax, Where, Resize) exports to ONNX opset 17 and is in
TensorRT 10's ONNX op list (checked in test_export_onnx.py).

Not part of the paper. Written by hand: OpenCV's matchers (SGBM) are not differentiable
tensors and would not go into the ONNX graphs or TensorRT engines.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import AVLFEConfig

#: variance floor of a ZNCC window (grey levels in [0, 1]): flat windows score ~0, not noise
VARIANCE_FLOOR = 1e-4
#: a pixel keeps the network's depth where under this share of the coarsest box was matched
MIN_SEED_SHARE = 0.01
#: the spread correction is averaged at this stride (the input is a multiple of 32)
SPREAD_STRIDE = 4
#: luma weights (ITU-R BT.601) for the grey images that are matched
LUMA = (0.299, 0.587, 0.114)


class StereoRefiner(nn.Module):
    """Full-resolution stereo check and correction of the decoder's depth (see the module
    docstring); ``max_depth`` caps the depths it produces."""

    def __init__(self, cfg: AVLFEConfig, max_depth: float) -> None:
        super().__init__()
        self.window = cfg.refine_window
        self.band = cfg.refine_band
        self.min_band = cfg.refine_min_band
        self.confidence = cfg.refine_confidence
        self.spreads = sorted(cfg.refine_spread, reverse=True)  # coarse to fine
        self.share = cfg.refine_share
        self.near_depth = cfg.near_depth
        self.max_depth = max_depth
        self.register_buffer("offsets", torch.linspace(-1.0, 1.0, cfg.refine_candidates),
                             persistent=False)
        layers = torch.linspace(0.0, math.log(max_depth), cfg.refine_layers)
        self.register_buffer("layers", layers.reshape(1, -1, 1, 1), persistent=False)
        self.layer_width = float(layers[1] - layers[0])
        self.register_buffer("luma", torch.tensor(LUMA).reshape(1, 3, 1, 1), persistent=False)

    @staticmethod
    def _box(x: Tensor, k: int) -> Tensor:
        p = k // 2
        x = F.avg_pool2d(x, (1, k), 1, (0, p), count_include_pad=False)
        return F.avg_pool2d(x, (k, 1), 1, (p, 0), count_include_pad=False)

    def _box_average(self, small: Tensor, size: int, out_size: tuple[int, int]) -> Tensor:
        """Box average over ``size`` input pixels of ``small`` (the input average-pooled by
        ``SPREAD_STRIDE``: 16x fewer pixels), bilinearly upsampled to ``out_size``."""
        small = self._box(small, max(1, size // SPREAD_STRIDE) | 1)
        return F.interpolate(small, size=out_size, mode="bilinear", align_corners=False)

    def _stats(self, g: Tensor) -> tuple[Tensor, Tensor]:
        mean = self._box(g, self.window)
        var = (self._box(g * g, self.window) - mean * mean).clamp_min(0)
        return mean, (var + VARIANCE_FLOOR).sqrt()

    @staticmethod
    def _shift_rows(right: Tensor, disp: Tensor) -> Tensor:
        """``right`` (B, 1, H, W) sampled at ``x - disp`` along each row, linear, clamped at the
        borders: ``grid_sample(..., padding_mode="border")`` for a purely horizontal shift,
        but two GatherElements (ONNX Runtime's GridSample is several times slower here)."""
        w = right.shape[-1]
        xs = torch.arange(w, device=right.device, dtype=right.dtype)
        x = (xs - disp).clamp(0, w - 1)  # the right view sees x at x - d
        x0 = x.floor().clamp(max=w - 2)
        frac = x - x0
        index = x0.long()
        rows = right.expand(-1, disp.shape[1], -1, -1)
        left_px = rows.gather(3, index)
        return left_px + frac * (rows.gather(3, index + 1) - left_px)

    def match(self, image: Tensor, aux: Tensor, fb: Tensor, depth: Tensor
              ) -> tuple[Tensor, Tensor, Tensor]:
        """(disparity, best ZNCC, usable) per pixel, each (B, 1, H, W); ``fb`` is (B, 1, 1, 1)."""
        b, _, h, w = image.shape
        left = (image * self.luma).sum(1, keepdim=True)
        right = (aux * self.luma).sum(1, keepdim=True)
        d0 = fb / depth.clamp(min=self.near_depth, max=self.max_depth)
        radius = torch.maximum(d0 * self.band, torch.full_like(d0, self.min_band))
        n = self.offsets.numel()
        disp = d0 + self.offsets.reshape(1, n, 1, 1) * radius  # (B, N, H, W)
        shifted = self._shift_rows(right, disp)
        mean_l, std_l = self._stats(left)
        mean_r, std_r = self._stats(shifted)
        zncc = (self._box(left * shifted, self.window) - mean_l * mean_r) / (std_l * std_r)
        best = zncc.argmax(1, keepdim=True)
        # scores of each candidate's neighbours (edge-replicated: the ends are not usable)
        below = torch.cat([zncc[:, :1], zncc[:, :-1]], 1)
        above = torch.cat([zncc[:, 1:], zncc[:, -1:]], 1)
        score, cm, cp = (t.gather(1, best) for t in (zncc, below, above))
        curve = cm - 2 * score + cp
        sub = torch.where(curve < -1e-6, 0.5 * (cm - cp) / curve.clamp(max=-1e-6),
                          torch.zeros_like(curve)).clamp(-0.5, 0.5)
        index = best.to(d0.dtype)
        disparity = d0 + ((index + sub) * (2.0 / (n - 1)) - 1.0) * radius
        usable = (score > self.confidence) & (index > 0.5) & (index < n - 1.5)
        return disparity, score, usable

    def forward(self, image: Tensor, aux: Tensor, fb: Tensor | float, depth: Tensor) -> Tensor:
        """Refined depth (B, 1, H, W), canonical focal; ``depth`` at the input size."""
        fb_t = torch.as_tensor(fb, dtype=depth.dtype, device=depth.device).reshape(-1, 1, 1, 1)
        disparity, score, usable = self.match(image, aux, fb_t, depth)
        refined = fb_t / disparity.clamp(min=fb_t / self.max_depth)
        weight = usable.to(depth.dtype) * ((score - self.confidence)
                                           / (1 - self.confidence)).clamp(0, 1)
        log_ratio = torch.log(refined / depth.clamp_min(1e-6)) * weight
        log_depth = torch.log(depth.clamp(1.0, self.max_depth))
        layers = (1 - (log_depth - self.layers).abs() / self.layer_width).clamp_min(0)
        n = layers.shape[1]
        small = F.avg_pool2d(torch.cat([log_ratio * layers, weight * layers], 1), SPREAD_STRIDE)
        correction = torch.zeros_like(depth)
        for i, size in enumerate(self.spreads):
            sums = self._box_average(small, size, depth.shape[-2:])
            num = (layers * sums[:, :n]).sum(1, keepdim=True)
            den = (layers * sums[:, n:]).sum(1, keepdim=True)
            mean = torch.where(den > MIN_SEED_SHARE, num / den.clamp_min(MIN_SEED_SHARE),
                               torch.zeros_like(den))
            # the coarsest box stands alone; each finer one takes over where it is covered
            share = torch.ones_like(den) if i == 0 else (den / self.share).clamp(max=1)
            correction = share * mean + (1 - share) * correction
        return depth * torch.exp(correction)
