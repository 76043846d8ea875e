"""Learned convex upsampling of the stride-4 depth to full resolution (RAFT-style)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .layers import conv1x1, conv_relu, softmax_expectation


def neighbours3x3(x: Tensor) -> Tensor:
    """(B, 1, h, w) -> (B, 9, 1, h, w): the 3x3 neighbourhood of every pixel, edge-replicated.

    Built from slices and concatenations only (no Unfold / edge-mode Pad), which every ONNX
    consumer including TensorRT parses.
    """
    x = torch.cat([x[:, :, :1], x, x[:, :, -1:]], dim=2)
    x = torch.cat([x[:, :, :, :1], x, x[:, :, :, -1:]], dim=3)
    h, w = x.shape[2] - 2, x.shape[3] - 2
    parts = [x[:, :, dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)]
    return torch.stack(parts, dim=1)


def bilinear_mask_logits(factor: int, eps: float = 1e-3) -> Tensor:
    """(9 * factor**2,) logits whose softmax approximates bilinear interpolation weights.

    Sub-pixel ``(i, j)`` of a ``factor x factor`` block sits at offset
    ``((i + 0.5) / factor - 0.5, ...)`` from the low-resolution pixel centre; its bilinear
    weights over the 3x3 neighbours are separable tent functions.
    """
    logits = torch.empty(9, factor * factor)
    for i in range(factor):
        for j in range(factor):
            oy, ox = (i + 0.5) / factor - 0.5, (j + 0.5) / factor - 0.5
            for n in range(9):
                dy, dx = n // 3 - 1, n % 3 - 1
                weight = max(0.0, 1 - abs(oy - dy)) * max(0.0, 1 - abs(ox - dx))
                logits[n, i * factor + j] = math.log(weight + eps)
    return logits.reshape(-1)


def convex_upsample(value: Tensor, logits: Tensor, factor: int) -> Tensor:
    """``value`` (B, 1, h, w) and mask ``logits`` (B, 9 * factor**2, h, w) -> (B, 1, h*factor,
    w*factor): each output pixel a convex combination (softmax over the 9) of its 3x3
    low-resolution neighbours."""
    b, _, h, w = value.shape
    logits = logits.reshape(b, 9, factor * factor, h, w)
    return F.pixel_shuffle(softmax_expectation(logits, neighbours3x3(value)), factor)


class ConvexUpsampler(nn.Module):
    """Each output pixel is a convex combination of the 3x3 low-resolution neighbours.

    The weights (softmax over the 9 neighbours, per sub-pixel) are predicted from the finest
    decoder features, so edges can stay sharp; the output stays within the input's range.
    Initialised to (edge-replicated) bilinear interpolation.
    """

    def __init__(self, channels: int, hidden: int, factor: int = 4) -> None:
        super().__init__()
        self.factor = factor
        self.mask = nn.Sequential(conv_relu(channels, hidden, kernel=3),
                                  conv1x1(hidden, 9 * factor * factor))
        with torch.no_grad():
            self.mask[1].weight.zero_()
            self.mask[1].bias.copy_(bilinear_mask_logits(factor))

    def forward(self, value: Tensor, feats: Tensor) -> Tensor:
        """``value`` (B, 1, h, w), ``feats`` (B, C, h, w) -> (B, 1, h*factor, w*factor)."""
        return convex_upsample(value, self.mask(feats), self.factor)
