"""Bin head: per-pixel probabilities over the adaptive bins, depth = softmax(logits) . centres."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .layers import conv1x1, conv_relu


class BinHead(nn.Module):
    """Depth at the decoder's finest resolution as the expected bin centre."""

    def __init__(self, channels: int, n_bins: int) -> None:
        super().__init__()
        self.logits = nn.Sequential(conv_relu(channels, channels, kernel=3),
                                    conv1x1(channels, n_bins))

    def forward(self, x: Tensor, centres: Tensor) -> Tensor:
        """``x`` (B, C, h, w), ``centres`` (B, n_bins) -> depth (B, 1, h, w)."""
        probs = torch.softmax(self.logits(x), dim=1)
        return (probs * centres[:, :, None, None]).sum(dim=1, keepdim=True)
