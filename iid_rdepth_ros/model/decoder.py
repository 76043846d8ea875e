"""Coarse-to-fine decoder stages with skip fusion (levels 3 -> 2 -> 1 -> 0)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .layers import ResidualBlock, conv1x1, conv_relu, upsample2x


class DecoderStage(nn.Module):
    """One stage: skip fusion, a residual refinement and an optional ``post`` transform.

    ``fuse(cat[up(prev), lateral(skip)])`` then ``refine``. ``prev`` is upsampled x2 unless
    ``upsample=False`` (the level-3 stage, whose ``prev`` is the DQI output). ``post`` is the
    identity in the baseline; in the full model the two fine stages get invertible coupling
    blocks there (initialised to the identity, so the baseline output is reproduced).
    """

    def __init__(self, prev_channels: int, skip_channels: int, channels: int,
                 upsample: bool = True) -> None:
        super().__init__()
        self.upsample = upsample
        self.lateral = conv1x1(skip_channels, channels)
        self.fuse = conv_relu(prev_channels + channels, channels, kernel=3)
        self.refine = ResidualBlock(channels)
        self.post: nn.Module = nn.Identity()

    def forward(self, prev: Tensor, skip: Tensor) -> Tensor:
        if self.upsample:
            prev = upsample2x(prev)
        x = self.fuse(torch.cat([prev, self.lateral(skip)], dim=1))
        return self.post(self.refine(x))


class Decoder(nn.Module):
    """Four stages indexed by level: ``stages[3]`` (coarsest) ... ``stages[0]`` (stride 4)."""

    def __init__(self, encoder_channels: tuple[int, ...], channels: tuple[int, ...],
                 query_channels: int) -> None:
        super().__init__()
        stages = []
        for level in range(4):
            prev = query_channels if level == 3 else channels[level + 1]
            stages.append(DecoderStage(prev, encoder_channels[level], channels[level],
                                       upsample=level != 3))
        self.stages = nn.ModuleList(stages)

    def forward(self, queries: Tensor, feats: list[Tensor]) -> Tensor:
        """Finest (stride-4) decoder features from DQI output and levels 0..3."""
        x = queries
        for level in (3, 2, 1, 0):
            x = self.stages[level](x, feats[level])
        return x
