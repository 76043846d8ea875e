"""AV-LFE's skip enhancement on the geometry-first stereo path (DESIGN.md §2.5): the right
view's encoder levels 0/1, aligned to the left view by the matcher's disparity
(``StereoOutput.aligned_aux``), enhance the decoder's low-level skips, as the paper's AV-LFE
does.

Per level: ``out = f + spread * sigmoid(gate) * delta``, with ``(delta, gate)`` predicted from
the left features and the aligned right ones (both normalised by the left features' per-image
channel mean and spread), their absolute difference (where the views disagree: occlusions,
wrong matches) and the matcher's confidence pooled to the level. The output convolution
starts at zero, so a new enhancer changes nothing; without a right view it is never called,
and the model stays exactly its mono network.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .layers import conv1x1, conv3x3, conv_relu, feature_spread, zero_init


class _LevelEnhancer(nn.Module):
    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.fuse = nn.Sequential(conv1x1(3 * channels + 1, hidden), nn.ReLU(inplace=True),
                                  conv_relu(hidden, hidden))
        self.out = zero_init(conv3x3(hidden, 2 * channels))

    def forward(self, feat: Tensor, aligned: Tensor, confidence: Tensor) -> Tensor:
        mean, spread = feature_spread(feat)
        f, a = (feat - mean) / spread, (aligned - mean) / spread
        delta, gate = self.out(self.fuse(torch.cat([f, a, (f - a).abs(), confidence], 1))
                               ).chunk(2, dim=1)
        return feat + spread * torch.sigmoid(gate) * delta


class AlignedSkipEnhancer(nn.Module):
    """Enhances levels 0/1 (strides 4/8) with the aligned right-view levels (module
    docstring). ``forward(feats, aligned, confidence)``: ``feats`` / ``aligned`` the left
    levels 0/1 and the matcher's aligned right ones, ``confidence`` (B, 1, H, W) at the
    network input; returns the enhanced levels 0/1."""

    def __init__(self, channels: tuple[int, int], hidden: int) -> None:
        super().__init__()
        if hidden < 1:
            raise ValueError(f"skip enhancer width must be >= 1, got {hidden}")
        self.levels = nn.ModuleList(_LevelEnhancer(c, hidden) for c in channels)

    def forward(self, feats: list[Tensor], aligned: list[Tensor], confidence: Tensor
                ) -> list[Tensor]:
        return [enhance(feats[level], aligned[level], F.avg_pool2d(confidence, 4 * 2 ** level))
                for level, enhance in enumerate(self.levels)]


def enhancer_width(state: dict[str, Tensor]) -> int:
    """``hidden`` of an ``AlignedSkipEnhancer`` state (``StereoConfig.skip_hidden``)."""
    return int(state["levels.0.fuse.0.weight"].shape[0])
