"""Depth-query initialisation (DQI): pyramid pooling on encoder level 3."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .layers import conv1x1, conv_relu


class DepthQueryInit(nn.Module):
    """Pyramid pooling context on the stride-32 features.

    Branches: the projected features, their global mean (broadcast) and stride-1 box pools of
    the given odd sizes (``count_include_pad=False``). Box pools instead of adaptive pools keep
    the ONNX graph valid for any input size (11x38 at 352x1216 is not divisible by a grid).
    """

    def __init__(self, in_channels: int, channels: int, pool_kernels: tuple[int, ...]) -> None:
        super().__init__()
        self.pool_kernels = tuple(pool_kernels)
        self.proj = conv_relu(in_channels, channels, kernel=1)
        branches = 2 + len(self.pool_kernels)
        self.fuse = nn.Sequential(conv1x1(branches * channels, channels), nn.ReLU(inplace=True),
                                  conv_relu(channels, channels, kernel=3))

    def forward(self, f3: Tensor) -> Tensor:
        p = self.proj(f3)
        parts = [p, p.mean(dim=(2, 3), keepdim=True).expand_as(p)]
        for k in self.pool_kernels:
            parts.append(F.avg_pool2d(p, k, stride=1, padding=k // 2, count_include_pad=False))
        return self.fuse(torch.cat(parts, dim=1))
