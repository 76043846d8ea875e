"""Learned stereo matcher in disparity pixels on the frozen encoder's levels 0/1 (the
geometry-first stereo path, DESIGN.md §2.5; its fusion with the mono network is
``model.stereo_fusion``).

Geometry first: matching happens in disparity pixels of the network input over
``0..max_disparity``; nothing depends on a depth range, on f or on B. Depth is
``fb / disparity``. Inside ``IIDRDepth`` ``fb = canonical_focal * B`` (the graph's ``fb``
input), so the depth is metres at the canonical focal like the mono output, and the runtime's
rescale by ``f_net / canonical_focal`` makes it exactly ``f_net * B / d``: the camera's own
focal length at the network input, no depth prior involved. Resizing a camera image from
``W`` to ``W_net`` columns multiplies every disparity and ``f`` by ``W_net / W``; the
letterboxed network input keeps the aspect, so rows and columns scale alike.

Pipeline (shapes for a 192x640 input, ``max_disparity=192``, lite0 channels 24/40)::

  s8 (24x80)   match features: [level 1 (40), avg-pooled level 0 (24)] -> 2 conv -> 32 ch
               group-wise correlation (8 groups of 4, cosine per group) at D8 = 192/8 + 1 = 25
               integer candidates 0, 8, ..., 192 px -> volume (B, 8, 25, 24, 80);
               3D aggregation: 2 convs at 8 ch with guided excitation from the left features,
               a stride-2 pair at 16 ch (13x12x40), trilinear up + skip, 1 conv to logits;
               softmax over candidates, windowed soft-argmin (the candidates within +-2 of the
               argmax, renormalised: robust to multi-modal matches) -> d8 and its peak / window
               mass (coarse confidence features).
  s4 (48x160)  match features: level 0 (24) -> 2 conv + lateral from s8 -> 24 ch;
               local cost: 5 offsets -2..2 s4-px around the upsampled disparity (bilinear
               grid_sample of the right features), 4 groups -> 20 ch; 2D residual refinement
               (24 ch, dilations 1, 2, 4) -> disparity residual.
  s2 (96x320)  learned image features (conv s2 3->16, conv 16->16, + lateral from s4), convex
               x2 upsampling of the s4 disparity (masks from the s4 hidden state), local cost
               at 5 offsets -2..2 s2-px, 2 groups -> 10 ch; 2D residual refinement (16 ch) ->
               residual, confidence logit, convex-upsampling masks to full resolution.
               (``cost2="grey"``: costs of the locally normalised grey images instead, and
               no right-view s2 features; ``blocks2``: residual blocks.)
  s1           disparity convexly upsampled x2 (each pixel a convex combination of its 3x3
               s2 neighbours: sharp edges, no value outside the neighbours' range), confidence
               bilinear; depth = fb / disparity.

Sub-pixel accuracy comes from the residual regressions on local costs sampled at fractional
offsets (linear interpolation) at strides 4 and 2, trained with an L1-type loss at full
resolution; the refinements never see absolute disparity (only costs, features and the
disparity's local variation), so they are the same for near and far, any camera.
Large ranges: one s8 candidate per 8 px, so ``max_disparity`` is a constructor argument and
may be changed at run time (``forward(max_disparity=...)``, a multiple of 8: the 3D convs are
shared over candidates); the cost grows linearly with it.

The refinement stages see no absolute disparity and the coarse stage sees only integer-shift
correlations, so the module is disparity-translation-equivariant in its refinements and
camera-agnostic overall.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .avlfe import as_fb
from .config import STEREO_COSTS2, check_max_disparity
from .upsample import bilinear_mask_logits, convex_upsample


@dataclass
class StereoMatcherConfig:
    """Widths and ranges of ``StereoMatcher`` (defaults: the prototype measured in the report).

    max_disparity: search range 0..max_disparity in network-input pixels (multiple of 8).
        192 covers 0.3 m for f_net * B up to 57.6 px*m (e.g. a 12 cm-baseline camera with
        f = 480 px at the network input) and 1 m for KITTI at 640 columns (201 px*m).
    """

    max_disparity: int = 192
    level_channels: tuple[int, int] = (24, 40)
    #: channels of a shallow branch on the image (three stride-2 convs, 15 px receptive
    #: field) beside the encoder levels in the s8 matching features; 0 = none. The encoder's
    #: levels see a thin near layer together with the background around it, which moves by
    #: another disparity in the right view (docs/stereo.md, large disparities)
    image8: int = 0
    feat8: int = 32
    groups8: int = 8
    agg: int = 8
    topk_radius: int = 2
    feat4: int = 24
    groups4: int = 4
    radius4: int = 2
    hidden4: int = 24
    feat2: int = 16
    groups2: int = 2
    radius2: int = 2
    hidden2: int = 16
    #: what the s2 refinement matches: "features" (the correlation of learned 16-channel
    #: features of both views, bilinearly warped) or "grey" (costs of the locally normalised
    #: grey images at stride 2, as ``refine1`` at full resolution: two gathers instead of a
    #: 16-channel GridSample, and the right view's s2 features are not computed)
    cost2: str = "features"
    #: residual blocks of the s2 refinement (dilations 1, 2)
    blocks2: int = 2
    max_depth: float = 250.0
    #: full-resolution refinement (s1): photometric costs of the locally normalised grey
    #: images at ``offsets1`` px around the upsampled disparity, ``hidden1`` channels
    refine1: bool = False
    hidden1: int = 8
    offsets1: tuple[float, ...] = (-1.0, -0.5, 0.0, 0.5, 1.0)

    def validate(self) -> None:
        check_max_disparity(self.max_disparity, "max_disparity")
        for name, ch, g in (("feat8", self.feat8, self.groups8),
                            ("feat4", self.feat4, self.groups4),
                            ("feat2", self.feat2, self.groups2)):
            if ch % g:
                raise ValueError(f"{name}={ch} is not divisible into {g} groups")
        if self.cost2 not in STEREO_COSTS2:
            raise ValueError(f"cost2 must be one of {STEREO_COSTS2}, got {self.cost2!r}")
        if not 1 <= self.blocks2 <= 2:
            raise ValueError(f"blocks2 must be 1 or 2, got {self.blocks2}")


def image_branch_width(state: dict[str, Tensor]) -> int:
    """``StereoMatcherConfig.image8`` of a matcher state: its image branch's output channels
    (0 without the branch)."""
    last = state.get("img8.2.0.weight")  # the branch's last convolution
    return 0 if last is None else int(last.shape[0])


#: the full-resolution refinement's modules (``StereoMatcherConfig.refine1``)
REFINE1_MODULES = ("ctx1.", "in1.", "res1.", "out1.")


def refines_full_resolution(state: dict[str, Tensor]) -> bool:
    """Whether a matcher state has the full-resolution refinement (``refine1``)."""
    return "out1.weight" in state


def s2_layout(state: dict[str, Tensor]) -> dict[str, object]:
    """``StereoMatcherConfig.cost2`` and ``blocks2`` of a matcher state."""
    return {"cost2": "grey" if "in2g.0.weight" in state else "features",
            "blocks2": sum(f"res2.{i}.c1.0.weight" in state for i in range(2))}


class StereoOutput(NamedTuple):
    disparity: Tensor  # (B, 1, H, W) network-input pixels
    confidence: Tensor  # (B, 1, H, W) in (0, 1)
    depth: Tensor  # (B, 1, H, W) metres = fb / disparity
    stages: list[Tensor]  # intermediate disparities (s8, s4, s2), input pixels, low resolution
    confidence_logit: Tensor  # (B, 1, H, W)
    aligned_aux: list[Tensor]  # right levels 0/1 warped to the left view (for AV-LFE FUSE)
    cost_logits: Tensor  # (B, D8, H/8, W/8) s8 matching logits (training: cross-entropy)


def _conv(cin: int, cout: int, k: int = 3, stride: int = 1, dilation: int = 1,
          relu: bool = True) -> nn.Module:
    conv = nn.Conv2d(cin, cout, k, stride, padding=dilation * (k // 2), dilation=dilation)
    return nn.Sequential(conv, nn.ReLU(inplace=True)) if relu else conv


class DisparityConv(nn.Module):
    """A 3x3x3 convolution over a (B, D, C, h, w) volume (D = disparity candidates), written
    as one 2D convolution over the (B * D) slices with the three neighbouring slices stacked
    as channels: same arithmetic as ``Conv3d``, but fast in torch on CPU (six times faster
    than its ``conv3d``). ``stride`` is spatial only. Exported to ONNX it is one 3D ``Conv``
    on the same weights: ONNX Runtime runs that faster than the slices (about 1 ms of the
    matcher at 192x640), and TensorRT parses both."""

    def __init__(self, cin: int, cout: int, stride: int = 1, relu: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3 * cin, cout, 3, stride, padding=1)
        self.relu = relu

    def forward(self, x: Tensor) -> Tensor:
        y = self._volumetric(x) if torch.onnx.is_in_onnx_export() else self._sliced(x)
        return F.relu(y) if self.relu else y

    def _sliced(self, x: Tensor) -> Tensor:
        b, d, c, h, w = x.shape
        xp = F.pad(x, (0, 0, 0, 0, 0, 0, 1, 1))
        x3 = torch.cat([xp[:, 0:d], xp[:, 1:d + 1], xp[:, 2:d + 2]], dim=2)
        y = self.conv(x3.reshape(b * d, 3 * c, h, w))
        return y.reshape(b, d, y.shape[1], y.shape[2], y.shape[3])

    def _volumetric(self, x: Tensor) -> Tensor:
        c = x.shape[2]
        # (out, [slice d-1, d, d+1] x in, 3, 3) -> (out, in, 3 [d], 3, 3)
        weight = self.conv.weight.reshape(self.conv.out_channels, 3, c, 3, 3).transpose(1, 2)
        y = F.conv3d(x.transpose(1, 2), weight, self.conv.bias,
                     stride=(1, *self.conv.stride), padding=1)
        return y.transpose(1, 2)


def blocked_conv(conv: nn.Module, parts: list[Tensor]) -> Tensor:
    """``conv(torch.cat(parts, 1))`` for a ``_conv``. Exported to ONNX, zero channels pad the
    input to a multiple of 16 (zero weights for them: the same sums): ONNX Runtime's CPU
    provider runs a convolution in its blocked (NCHWc) layout only when the input channels
    are a multiple of its block (8 or 16), and the refinements' inputs (costs, features,
    context, variation) are not. At 192x640 the s2 input convolution went 2.1 -> 1.2 ms."""
    layer = conv[0] if isinstance(conv, nn.Sequential) else conv
    pad = -layer.in_channels % 16
    if not torch.onnx.is_in_onnx_export() or pad == 0:
        return conv(torch.cat(parts, 1))
    w = layer.weight
    weight = torch.cat([w, w.new_zeros(w.shape[0], pad, *w.shape[2:])], 1)
    # zeros computed from an input channel (a zeros_like would fold into a constant of the
    # export size: 1 MB more graph); non-finite there is non-finite in the sum anyway
    x = torch.cat([*parts, parts[-1][:, :1].expand(-1, pad, -1, -1) * 0.0], 1)
    y = F.conv2d(x, weight, layer.bias, layer.stride, layer.padding, layer.dilation)
    return F.relu(y) if conv is not layer else y


class _ResBlock(nn.Module):
    def __init__(self, ch: int, dilation: int) -> None:
        super().__init__()
        self.c1 = _conv(ch, ch, dilation=dilation)
        self.c2 = _conv(ch, ch, dilation=dilation, relu=False)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x + self.c2(self.c1(x)))


def _unit(x: Tensor, dim: int) -> Tensor:
    """``x / |x|`` along ``dim`` (written out: faster than F.normalize on CPU for a middle
    dimension, and a plain ReduceSum / Sqrt / Div in ONNX)."""
    return x / ((x * x).sum(dim, keepdim=True) + 1e-8).sqrt()


def full_cost_volume(left: Tensor, right: Tensor, candidates: int, groups: int) -> Tensor:
    """(B, D, G, h, w): correlation of left x with right x - k for k = 0..D-1 (zero where
    x - k < 0)."""
    b, c, h, w = left.shape
    lg = _unit(left.reshape(b, groups, c // groups, h, w), 2)
    rg = _unit(right.reshape(b, groups, c // groups, h, w), 2)
    vols = []
    for k in range(candidates):
        if k == 0:
            vols.append((lg * rg).sum(2))
        elif k >= w:  # no partner inside the image for any pixel
            vols.append(torch.zeros_like(vols[0]))
        else:
            corr = (lg[..., k:] * rg[..., : w - k]).sum(2)
            vols.append(F.pad(corr, (k, 0)))
    return torch.stack(vols, dim=1)


def _pixel_to_grid(coord: Tensor, size: int) -> Tensor:
    return (2.0 * coord + 1.0) / size - 1.0


def warp_rows(right: Tensor, disparity: Tensor, offsets: Tensor | None = None) -> Tensor:
    """Sample ``right`` (B, C, h, w) at ``x - disparity - o`` for each offset ``o`` (level
    pixels): (B, C, K, h, w) (K = 1 without offsets). Bilinear ``grid_sample``, zeros outside."""
    b, _, h, w = right.shape
    xs = torch.arange(w, dtype=right.dtype, device=right.device).reshape(1, 1, 1, w)
    ys = torch.arange(h, dtype=right.dtype, device=right.device).reshape(1, 1, h, 1)
    src = xs - disparity  # (B, 1, h, w)
    if offsets is not None:
        src = src - offsets.reshape(1, -1, 1, 1)
    k = src.shape[1]
    gx = _pixel_to_grid(src, w)
    gy = _pixel_to_grid(ys, h).expand(b, k, h, w)
    grid = torch.stack([gx, gy], dim=-1).reshape(b, k * h, w, 2)
    out = F.grid_sample(right, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.reshape(b, -1, k, h, w)


def sample_rows(image: Tensor, disparity: Tensor, offsets: Tensor) -> Tensor:
    """``warp_rows`` for a one-channel (B, 1, H, W) image: (B, K, H, W), the image linearly
    interpolated along its row at ``x - disparity - o_k``, zero outside. The same values as
    the bilinear ``grid_sample`` (rows are exact; within float rounding of its coordinate
    normalisation), by two ``GatherElements``: ONNX Runtime's GridSample took 22 ms for this
    one channel at five offsets at 192x640 where this takes 1.9 ms (torch eager: 1.9 ms with
    grid_sample, 3.4 ms with this)."""
    b, _, h, w = image.shape
    k = offsets.numel()
    xs = torch.arange(w, dtype=disparity.dtype, device=disparity.device).reshape(1, 1, 1, w)
    src = xs - disparity - offsets.reshape(1, k, 1, 1)  # (B, K, H, W)
    lo = torch.floor(src)
    frac = src - lo

    rows = image.expand(b, k, h, w)

    def tap(col: Tensor) -> Tensor:
        inside = ((col >= 0) & (col <= w - 1)).to(image.dtype)
        return torch.gather(rows, 3, col.clamp(0, w - 1).long()) * inside

    return (1 - frac) * tap(lo) + frac * tap(lo + 1)


def group_normalize(x: Tensor, groups: int) -> Tensor:
    """L2-normalise each channel group of (B, C, h, w)."""
    b, c, h, w = x.shape
    return _unit(x.reshape(b, groups, c // groups, h, w), 2).reshape(b, c, h, w)


def local_cost(left: Tensor, right: Tensor, disparity: Tensor, offsets: Tensor,
               groups: int) -> Tensor:
    """(B, G * K, h, w): correlation per channel group of ``left`` with ``right`` sampled at
    ``x - d - o_k`` (both group-normalised before sampling: cosine up to the interpolation)."""
    b, c, h, w = left.shape
    warped = warp_rows(group_normalize(right, groups), disparity, offsets)  # (B, C, K, h, w)
    k = warped.shape[2]
    prod = group_normalize(left, groups).unsqueeze(2) * warped
    corr = prod.reshape(b, groups, c // groups, k, h, w).sum(2)
    return corr.reshape(b, groups * k, h, w)


class ConvexUp(nn.Module):
    """x2 convex upsampling of a (B, 1, h, w) map with masks predicted from features
    (initialised to bilinear)."""

    def __init__(self, channels: int, factor: int = 2) -> None:
        super().__init__()
        self.factor = factor
        self.mask = nn.Conv2d(channels, 9 * factor * factor, 1)
        with torch.no_grad():
            self.mask.weight.mul_(0.01)
            self.mask.bias.copy_(bilinear_mask_logits(factor))

    def forward(self, value: Tensor, feats: Tensor) -> Tensor:
        return convex_upsample(value, self.mask(feats), self.factor)


def _up2(x: Tensor) -> Tensor:
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


class StereoMatcher(nn.Module):
    """Disparity, confidence and metric depth from the left/right encoder levels 0/1 and
    images (see the module docstring)."""

    def __init__(self, cfg: StereoMatcherConfig | None = None) -> None:
        super().__init__()
        cfg = cfg or StereoMatcherConfig()
        cfg.validate()
        self.cfg = cfg
        c0, c1 = cfg.level_channels
        # --- s8
        self.feat8 = nn.Sequential(_conv(c1 + c0 + cfg.image8, 48),
                                   _conv(48, cfg.feat8, relu=False))
        if cfg.image8:
            self.img8 = nn.Sequential(_conv(3, 16, stride=2), _conv(16, 24, stride=2),
                                      _conv(24, cfg.image8, stride=2))
            with torch.no_grad():  # starts as the matcher without the branch
                self.feat8[0][0].weight[:, c1 + c0:].zero_()
        a = cfg.agg
        self.agg0 = DisparityConv(cfg.groups8, a)
        self.agg1 = DisparityConv(a, a)
        self.agg_down = nn.Sequential(DisparityConv(a, 2 * a, stride=2),
                                      DisparityConv(2 * a, 2 * a))
        self.agg_up = nn.Conv2d(2 * a, a, 1)
        self.agg_out = DisparityConv(a, 1, relu=False)
        self.gce0 = nn.Conv2d(cfg.feat8, a, 1)
        self.gce1 = nn.Conv2d(cfg.feat8, 2 * a, 1)
        self.ctx8 = _conv(cfg.feat8 + 2, cfg.hidden4)
        # --- s4
        self.feat4 = nn.Sequential(_conv(c0, cfg.feat4), _conv(cfg.feat4, cfg.feat4, relu=False))
        self.lat4 = nn.Conv2d(cfg.feat8, cfg.feat4, 1)
        k4 = 2 * cfg.radius4 + 1
        self.register_buffer("offsets4", torch.arange(-cfg.radius4, cfg.radius4 + 1).float(),
                             persistent=False)
        h4 = cfg.hidden4
        self.in4 = _conv(cfg.groups4 * k4 + cfg.feat4 + h4 + 3, h4)
        self.res4 = nn.Sequential(_ResBlock(h4, 1), _ResBlock(h4, 2), _ResBlock(h4, 4))
        self.out4 = nn.Conv2d(h4, 1, 3, padding=1)
        self.up4 = ConvexUp(h4)
        # --- s2
        f2 = cfg.feat2
        self.feat2 = nn.Sequential(_conv(3, f2, stride=2), _conv(f2, f2, relu=False))
        self.lat2 = nn.Conv2d(cfg.feat4, f2, 1)
        k2 = 2 * cfg.radius2 + 1
        self.register_buffer("offsets2", torch.arange(-cfg.radius2, cfg.radius2 + 1).float(),
                             persistent=False)
        h2 = cfg.hidden2
        self.ctx2 = nn.Conv2d(h4, h2, 1)
        if cfg.cost2 == "grey":
            self.in2g = _conv(k2 + f2 + h2 + 1, h2)
        else:
            self.in2 = _conv(cfg.groups2 * k2 + f2 + h2 + 1, h2)
        self.res2 = nn.Sequential(*(_ResBlock(h2, d) for d in (1, 2)[:cfg.blocks2]))
        self.out2 = nn.Conv2d(h2, 2, 3, padding=1)  # (residual, confidence logit)
        self.up2 = ConvexUp(h2)
        self.register_buffer("luma", torch.tensor([0.299, 0.587, 0.114]).reshape(1, 3, 1, 1),
                             persistent=False)
        # --- s1 (optional)
        if cfg.refine1:
            h1 = cfg.hidden1
            self.register_buffer("offsets1", torch.tensor(cfg.offsets1), persistent=False)
            self.ctx1 = nn.Conv2d(h2, h1, 1)
            self.in1 = _conv(len(cfg.offsets1) + 1 + 3 + h1 + 1, h1)
            self.res1 = nn.Sequential(_ResBlock(h1, 1), _ResBlock(h1, 2))
            self.out1 = nn.Conv2d(h1, 2, 3, padding=1)
            nn.init.zeros_(self.out1.weight)
            nn.init.zeros_(self.out1.bias)
        for head in (self.out4, self.out2):
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)

    @classmethod
    def from_state_dict(cls, state: dict[str, Tensor], **config: object) -> StereoMatcher:
        """A matcher built to fit ``state`` (its image branch's width, its s2 layout and
        whether it refines at full resolution read from it) and loaded with it; ``config``
        sets the other ``StereoMatcherConfig`` fields."""
        matcher = cls(StereoMatcherConfig(image8=image_branch_width(state),
                                          refine1=refines_full_resolution(state),
                                          **s2_layout(state),  # type: ignore[arg-type]
                                          **config))  # type: ignore[arg-type]
        matcher.load_state_dict(state)
        return matcher

    # -------------------------------------------------------------------------- pieces

    def _features8(self, f0: Tensor, f1: Tensor, image: Tensor) -> Tensor:
        parts = [f1, F.avg_pool2d(f0, 2)]
        if self.cfg.image8:
            parts.append(self.img8(image - 0.5))
        return self.feat8(torch.cat(parts, 1) * 0.25)

    def _aggregate(self, volume: Tensor, guide: Tensor) -> Tensor:
        """(B, D, G, h, w) correlation volume -> (B, D, h, w) matching logits. Guided
        excitation: per-pixel channel gates from the left features (shared over D)."""
        x = self.agg0(volume) * torch.sigmoid(self.gce0(guide)).unsqueeze(1)
        x = self.agg1(x)
        y = self.agg_down(x)
        y = y * torch.sigmoid(self.gce1(F.avg_pool2d(guide, 2))).unsqueeze(1)
        b, d, c, h, w = y.shape
        y = self.agg_up(_up2(y.reshape(b * d, c, h, w)))
        x = F.relu(x + y.reshape(b, d, -1, 2 * h, 2 * w))
        return self.agg_out(x).squeeze(2)

    def _regress(self, logits: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Windowed soft-argmin: (disparity in candidates, peak prob, window mass)."""
        logits = logits.float()  # disparities need float32 under autocast
        d = logits.shape[1]
        k = torch.arange(d, dtype=logits.dtype, device=logits.device).reshape(1, d, 1, 1)
        # softmax written out (see layers.softmax_expectation): e peaks at exactly 1, so the
        # peak probability is 1 / sum(e) and the window (which holds the peak) sums to >= 1
        top = logits.amax(dim=1, keepdim=True)
        e = torch.exp(logits - top)
        best = logits.argmax(dim=1, keepdim=True).to(logits.dtype)
        ew = e * ((k - best).abs() <= self.cfg.topk_radius).to(logits.dtype)
        total, window = e.sum(1, keepdim=True), ew.sum(1, keepdim=True)
        return (ew * k).sum(1, keepdim=True) / window, 1.0 / total, window / total

    @staticmethod
    def _variation(d: Tensor, stride: float) -> Tensor:
        """Disparity minus its 3x3 mean, in level pixels (no absolute disparity)."""
        return (d - F.avg_pool2d(d, 3, 1, 1, count_include_pad=False)) / stride

    @staticmethod
    def _normalised_grey(img: Tensor, luma: Tensor) -> Tensor:
        """Grey image minus its 5x5 mean over its 5x5 spread: gain / offset invariant."""
        g = (img * luma).sum(1, keepdim=True)
        mean = F.avg_pool2d(g, 5, 1, 2, count_include_pad=False)
        z = g - mean
        var = F.avg_pool2d(z * z, 5, 1, 2, count_include_pad=False)
        return z / (var + 1e-4).sqrt()

    @staticmethod
    def _grey_cost(nl: Tensor, nr: Tensor, disparity: Tensor, offsets: Tensor) -> Tensor:
        """(B, K, h, w): 3x3 mean absolute difference of the normalised grey images ``nl``
        and ``nr`` sampled along its rows at ``x - disparity - o_k`` (level pixels)."""
        warped = sample_rows(nr, disparity, offsets)
        return F.avg_pool2d((warped - nl).abs(), 3, 1, 1, count_include_pad=False)

    def _grey_cost2(self, left: Tensor, right: Tensor, d2: Tensor) -> Tensor:
        """``_grey_cost`` at stride 2 around the s2 disparity (input pixels)."""
        nl, nr = (self._normalised_grey(F.avg_pool2d(v, 2), self.luma) for v in (left, right))
        return self._grey_cost(nl, nr, d2 / 2.0, self.offsets2)

    def _refine1(self, left: Tensor, right: Tensor, disparity: Tensor, conf_logit: Tensor,
                 h2: Tensor) -> tuple[Tensor, Tensor]:
        """Full-resolution residual from photometric costs at sub-pixel offsets."""
        nl = self._normalised_grey(left, self.luma)
        nr = self._normalised_grey(right, self.luma)
        cost = self._grey_cost(nl, nr, disparity, self.offsets1)
        x = blocked_conv(self.in1, [cost, nl, left - 0.5, _up2(self.ctx1(h2)),
                                    self._variation(disparity, 1.0)])
        out = self.out1(self.res1(x))
        return (disparity + out[:, :1]).clamp_min(0.0), conf_logit + out[:, 1:2]

    # ------------------------------------------------------------------------- forward

    def forward(self, left: Tensor, right: Tensor, left_feats: list[Tensor],
                right_feats: list[Tensor], fb: Tensor | float,
                max_disparity: int | None = None) -> StereoOutput:
        """``left``/``right`` (B, 3, H, W) RGB in [0, 1]; ``*_feats`` the frozen encoder's
        levels 0/1 of each view; ``fb`` (B,) or scalar = f_net * B (pixels x metres)."""
        cfg = self.cfg
        max_disp = check_max_disparity(int(max_disparity or cfg.max_disparity), "max_disparity")
        l0, l1 = left_feats[0], left_feats[1]
        r0, r1 = right_feats[0], right_feats[1]
        # ---------------------------------------------------------------- s8: full search
        m8l, m8r = self._features8(l0, l1, left), self._features8(r0, r1, right)
        volume = full_cost_volume(m8l, m8r, max_disp // 8 + 1, cfg.groups8)
        logits = self._aggregate(volume, m8l)
        d8, peak, mass = self._regress(logits)
        d8 = d8 * 8.0  # input pixels
        ctx = blocked_conv(self.ctx8, [m8l, peak, mass])
        # ---------------------------------------------------------------- s4: local refine
        m4l = self.feat4(l0 * 0.25) + _up2(self.lat4(m8l))
        m4r = self.feat4(r0 * 0.25) + _up2(self.lat4(m8r))
        d4 = _up2(d8)
        cost4 = local_cost(m4l, m4r, d4 / 4.0, self.offsets4, cfg.groups4)
        x = blocked_conv(self.in4, [cost4, m4l, _up2(ctx), _up2(peak), _up2(mass),
                                   self._variation(d4, 4.0)])
        h4 = self.res4(x)
        d4 = d4 + 4.0 * self.out4(h4)
        # ---------------------------------------------------------------- s2: local refine
        m2l = self.feat2(left - 0.5) + _up2(self.lat2(m4l))
        d2 = self.up4(d4, h4)
        context = [m2l, _up2(self.ctx2(h4)), self._variation(d2, 2.0)]
        if cfg.cost2 == "grey":
            x = blocked_conv(self.in2g, [self._grey_cost2(left, right, d2), *context])
        else:
            m2r = self.feat2(right - 0.5) + _up2(self.lat2(m4r))
            cost2 = local_cost(m2l, m2r, d2 / 2.0, self.offsets2, cfg.groups2)
            x = blocked_conv(self.in2, [cost2, *context])
        h2 = self.res2(x)
        out = self.out2(h2)
        d2 = d2 + 2.0 * out[:, :1]
        # ---------------------------------------------------------------- full resolution
        disparity = self.up2(d2, h2).clamp_min(0.0)
        conf_logit = _up2(out[:, 1:2])
        if cfg.refine1:
            disparity, conf_logit = self._refine1(left, right, disparity, conf_logit, h2)
        fb_t = as_fb(fb, disparity)
        depth = fb_t / disparity.clamp_min(1e-6).maximum(fb_t / cfg.max_depth)
        aligned = [warp_rows(r0, d4 / 4.0)[:, :, 0], warp_rows(r1, d8 / 8.0)[:, :, 0]]
        return StereoOutput(disparity, torch.sigmoid(conf_logit), depth, [d8, d4, d2],
                            conf_logit, aligned, logits)
