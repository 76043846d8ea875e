"""AV-LFE / AVE-FM: auxiliary-view enhancement of the low-level skip features (levels 0/1).

ALIGN (per enhanced level, stride ``s``): both views' features are centred per image and
channel, passed through a small trainable matching projection (an orthogonal 1x1 projection
plus a zero-initialised 3x3 context term, so matching works on the raw features from the start)
and L2-normalised. ``D`` depth candidates ``Z_k`` span [near_depth, far_depth], uniformly in
log depth (``candidate_spacing="log"``: equal relative resolution, far range not starved) or
in inverse depth (``"inverse"``); their disparities are ``d_k = fb / Z_k / s`` pixels of the
level (the right view sees a point at ``x - d``). One ``grid_sample`` builds the cosine cost
volume ``C_k(x) = <m(x), a(x - d_k)>``; a learned temperature and a softmax over ``k`` give
the matching distribution ``p_k``; the soft-argmin disparity ``sum_k p_k d_k`` plus a bounded
learned local offset gives the disparity used to warp the auxiliary features
(``grid_sample``: bilinear, zeros padding, align_corners False, which ONNX opset 16+ and
TensorRT parse).

FUSE: ``out = f + sigma * sigmoid(gate) * delta`` with ``(delta, gate)`` predicted from
``[f_n, warped_n, p (the cost volume), max_k p (confidence), near * soft-argmin inverse depth]``,
where ``f_n``, ``warped_n`` are normalised with the main view's per-image channel mean and
spread ``sigma`` (encoder features are large, ~6 on average, and would otherwise drown the
[0, 1] evidence and make a useful residual slow to learn). The output convolution starts at
zero, so a new module is the identity even with an auxiliary view. Without an auxiliary view
the module returns its input tensor itself.

STEREO PRIOR (``prior=True``, finest enhanced level): the stereo depth also reaches the
output directly. From the fused features the module predicts a per-pixel spread ``sigma`` (log
depth) and gate; the bin head adds the Cauchy log-likelihood
``-weight * log(1 + ((log c_k - log Z_stereo) / sigma)^2)`` to its logits (``model.head``),
with ``weight = 20 * w * confidence * sigmoid(gate)`` and ``w`` zero-initialised: a new
module leaves the output unchanged, and the depth loss trains the matching through a short
path instead of only through the residual on the skip features. Why: a mono decoder that
already fits its training frames hardly responds to a small residual on its stride-4 skip, so
the residual alone did not learn to use the stereo cue (calibration runs: aux-on = aux-off).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import AVLFEConfig
from .layers import conv1x1, conv3x3, conv_relu, feature_spread, zero_init


class Alignment(NamedTuple):
    """What ALIGN found for one level (tensors at the level's resolution)."""

    probs: Tensor  # (B, D, h, w) matching distribution over the candidates
    confidence: Tensor  # (B, 1, h, w) max_k p_k
    inverse_depth: Tensor  # (B, 1, h, w) soft-argmin inverse depth * near_depth, in (0, 1]
    disparity: Tensor  # (B, 1, h, w) soft-argmin + offset, pixels of the level
    warped: Tensor  # (B, C, h, w) auxiliary features warped to the main view
    log_depth: Tensor  # (B, 1, h, w) log of fb / (disparity * stride): the stereo depth


class StereoPrior(NamedTuple):
    """Per-pixel stereo depth likelihood for the bin head (finest enhanced level)."""

    log_depth: Tensor  # (B, 1, h, w) centre, canonical log depth
    sigma: Tensor  # (B, 1, h, w) spread in log depth, > 0
    weight: Tensor  # (B, 1, h, w) strength, exactly 0 in a new module


#: the prior's global weight is ``PRIOR_WEIGHT_GAIN * w``: a zero-initialised scalar trained at
#: the decoder's learning rate would otherwise need thousands of steps to matter
PRIOR_WEIGHT_GAIN = 20.0
#: smallest disparity (pixels of the level) turned into a depth for the prior
MIN_DISPARITY = 1e-3


def candidate_inverse_depths(cfg: AVLFEConfig, far_depth: float) -> Tensor:
    """(D,) candidate inverse depths (1/m), ascending, per ``cfg.candidate_spacing``."""
    if cfg.candidate_spacing == "inverse":
        return torch.linspace(1.0 / far_depth, 1.0 / cfg.near_depth, cfg.candidates)
    return torch.exp(-torch.linspace(math.log(far_depth), math.log(cfg.near_depth),
                                     cfg.candidates))


def _pixel_to_grid(coord: Tensor, size: int) -> Tensor:
    """Pixel index -> grid_sample coordinate for align_corners=False."""
    return (2.0 * coord + 1.0) / size - 1.0


def as_fb(fb: Tensor | float, like: Tensor) -> Tensor:
    """``fb`` as a (B or 1, 1, 1, 1) tensor matching ``like``'s dtype and device."""
    fb_t = torch.as_tensor(fb, dtype=like.dtype, device=like.device).reshape(-1, 1, 1, 1)
    if fb_t.shape[0] not in (1, like.shape[0]):
        raise ValueError(f"fb has {fb_t.shape[0]} values for a batch of {like.shape[0]}")
    return fb_t


class AuxViewEnhancer(nn.Module):
    """ALIGN + FUSE for one encoder level."""

    def __init__(self, channels: int, stride: int, cfg: AVLFEConfig, far_depth: float,
                 with_prior: bool = False) -> None:
        super().__init__()
        self.stride = stride
        self.near_depth = float(cfg.near_depth)
        self.max_offset = float(cfg.max_offset)
        cm, hidden, d = cfg.match_channels, cfg.hidden, cfg.candidates
        self.register_buffer("inverse_depths", candidate_inverse_depths(cfg, far_depth),
                             persistent=False)
        # matching embedding of per-image centred features: an orthogonal 1x1 projection
        # (raw-feature matching from the first step) plus a zero-initialised 3x3 context term
        self.match = nn.Conv2d(channels, cm, 1, bias=False)
        nn.init.orthogonal_(self.match.weight)
        self.match_context = zero_init(conv3x3(channels, cm))
        self.log_temperature = nn.Parameter(torch.tensor(float(cfg.temperature)).log())
        self.offset = nn.Sequential(conv1x1(d + 2, hidden // 2), nn.ReLU(inplace=True),
                                    zero_init(conv3x3(hidden // 2, 1)))
        self.fuse = nn.Sequential(conv1x1(2 * channels + d + 2, hidden), nn.ReLU(inplace=True),
                                  conv_relu(hidden, hidden, kernel=3))
        self.out = zero_init(conv3x3(hidden, 2 * channels))
        self.prior: nn.Module | None = None
        if with_prior:
            self.prior = zero_init(conv3x3(hidden, 2))  # -> (sigma, gate) logits
            self.prior_weight = nn.Parameter(torch.zeros(1))
            self.sigma_min = float(cfg.prior_min_sigma)
            # softplus(bias) + sigma_min = prior_sigma at initialisation
            self.sigma_bias = math.log(math.expm1(cfg.prior_sigma - cfg.prior_min_sigma))

    def candidate_disparities(self, fb: Tensor) -> Tensor:
        """(B or 1, D, 1, 1) candidate disparities in pixels of this level."""
        return fb.reshape(-1, 1, 1, 1) * self.inverse_depths.reshape(1, -1, 1, 1) / self.stride

    def _embed(self, x: Tensor) -> Tensor:
        x = x - x.mean(dim=(2, 3), keepdim=True)
        return F.normalize(self.match(x) + self.match_context(x), dim=1, eps=1e-6)

    def cost_volume(self, feat: Tensor, aux: Tensor, fb: Tensor) -> Tensor:
        """(B, D, h, w) cosine similarity of main and candidate-shifted auxiliary embeddings."""
        b, _, h, w = feat.shape
        d = self.inverse_depths.shape[0]
        main, other = self._embed(feat), self._embed(aux)
        # grid rows are (candidate, row): the sampled volume is (B, Cm, D, h, w), so the
        # product with the main embedding broadcasts over a leading dim (fast, no permute)
        disp = self.candidate_disparities(fb)  # (B|1, D, 1, 1)
        xs = torch.arange(w, dtype=feat.dtype, device=feat.device).reshape(1, 1, 1, w)
        ys = torch.arange(h, dtype=feat.dtype, device=feat.device).reshape(1, 1, h, 1)
        gx = _pixel_to_grid(xs - disp, w).expand(b, d, h, w)
        gy = _pixel_to_grid(ys, h).expand(b, d, h, w)
        grid = torch.stack([gx, gy], dim=-1).reshape(b, d * h, w, 2)
        shifted = F.grid_sample(other, grid, mode="bilinear", padding_mode="zeros",
                                align_corners=False)
        return (main.unsqueeze(2) * shifted.reshape(b, -1, d, h, w)).sum(dim=1)

    def warp(self, aux: Tensor, disparity: Tensor) -> Tensor:
        """Sample ``aux`` at ``x - disparity`` (B, 1, h, w) -> features in the main view."""
        b, _, h, w = aux.shape
        xs = torch.arange(w, dtype=aux.dtype, device=aux.device).reshape(1, 1, 1, w)
        ys = torch.arange(h, dtype=aux.dtype, device=aux.device).reshape(1, 1, h, 1)
        gx = _pixel_to_grid(xs - disparity, w)
        gy = _pixel_to_grid(ys, h).expand(b, 1, h, w)
        grid = torch.cat([gx, gy], dim=1).permute(0, 2, 3, 1)
        return F.grid_sample(aux, grid, mode="bilinear", padding_mode="zeros",
                             align_corners=False)

    def align(self, feat: Tensor, aux: Tensor, fb: Tensor | float) -> Alignment:
        """Match, soft-argmin, refine with the learned offset and warp ``aux``."""
        if aux.shape != feat.shape:
            raise ValueError(f"auxiliary features {tuple(aux.shape)} differ from main "
                             f"{tuple(feat.shape)}")
        fb_t = as_fb(fb, feat)
        probs = torch.softmax(self.cost_volume(feat, aux, fb_t) * self.log_temperature.exp(),
                              dim=1)
        confidence = probs.amax(dim=1, keepdim=True)
        inverse = self.inverse_depths.reshape(1, -1, 1, 1)
        inverse_depth = (probs * inverse).sum(dim=1, keepdim=True) * self.near_depth
        disparity = (probs * self.candidate_disparities(fb_t)).sum(dim=1, keepdim=True)
        evidence = torch.cat([probs, confidence, inverse_depth], dim=1)
        disparity = disparity + self.max_offset * torch.tanh(self.offset(evidence))
        log_depth = torch.log(fb_t / self.stride) - torch.log(disparity.clamp_min(MIN_DISPARITY))
        return Alignment(probs, confidence, inverse_depth, disparity, self.warp(aux, disparity),
                         log_depth)

    def forward(self, feat: Tensor, aux: Tensor | None = None,
                fb: Tensor | float | None = None) -> Tensor:
        """Enhanced features (``feat`` itself without ``aux``)."""
        return self.enhance(feat, aux, fb)[0]

    def enhance(self, feat: Tensor, aux: Tensor | None,
                fb: Tensor | float | None) -> tuple[Tensor, StereoPrior | None]:
        """(enhanced features, stereo prior or None); ``(feat, None)`` without ``aux``."""
        if aux is None:
            return feat, None
        if fb is None:
            raise ValueError("an auxiliary view needs fb (focal x baseline, pixels*metres)")
        al = self.align(feat, aux, fb)
        # fuse in the main view's per-image normalised feature space, so the evidence
        # (probabilities, confidence, inverse depth in [0, 1]) is on the same footing as the
        # features, and scale the residual back by the feature spread
        mean, spread = feature_spread(feat)
        hidden = self.fuse(torch.cat([(feat - mean) / spread, (al.warped - mean) / spread,
                                      al.probs, al.confidence, al.inverse_depth], dim=1))
        delta, gate = self.out(hidden).chunk(2, dim=1)
        enhanced = feat + spread * torch.sigmoid(gate) * delta
        if self.prior is None:
            return enhanced, None
        sigma_logit, gate_logit = self.prior(hidden).chunk(2, dim=1)
        sigma = F.softplus(sigma_logit + self.sigma_bias) + self.sigma_min
        weight = (PRIOR_WEIGHT_GAIN * self.prior_weight * al.confidence
                  * torch.sigmoid(gate_logit))
        return enhanced, StereoPrior(al.log_depth, sigma, weight)


class AVLFE(nn.Module):
    """AV-LFE on the configured levels; the identity without an auxiliary view.

    With ``cfg.prior`` the finest enhanced level also yields the ``StereoPrior`` for the head.
    """

    def __init__(self, channels: tuple[int, ...], cfg: AVLFEConfig, far_depth: float) -> None:
        super().__init__()
        self.levels = tuple(sorted(cfg.levels))
        self.enhancers = nn.ModuleDict({
            str(level): AuxViewEnhancer(channels[level], 4 * 2 ** level, cfg, far_depth,
                                        with_prior=cfg.prior and level == self.levels[0])
            for level in self.levels})

    def forward(self, feats: list[Tensor], aux_feats: list[Tensor] | None = None,
                fb: Tensor | float | None = None) -> tuple[list[Tensor], StereoPrior | None]:
        """(enhanced levels 0/1, stereo prior or None); without ``aux_feats`` the very same
        tensors and no prior."""
        if aux_feats is None:
            return feats, None
        out = list(feats)
        prior = None
        for level in self.levels:
            if level >= len(aux_feats):
                raise ValueError(f"AV-LFE needs auxiliary level {level}; got {len(aux_feats)} "
                                 f"level(s) (encode the auxiliary view with levels=2)")
            out[level], level_prior = self.enhancers[str(level)].enhance(
                feats[level], aux_feats[level], fb)
            prior = prior if level_prior is None else level_prior
        return out, prior
