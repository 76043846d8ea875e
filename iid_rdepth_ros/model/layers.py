"""Small convolution building blocks shared by the decoder parts."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def conv1x1(cin: int, cout: int, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 1, bias=bias)


def conv3x3(cin: int, cout: int, stride: int = 1, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=bias)


def conv_relu(cin: int, cout: int, kernel: int = 3) -> nn.Sequential:
    """Conv (same padding) followed by ReLU."""
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, padding=kernel // 2), nn.ReLU(inplace=True))


def zero_init(module: nn.Module) -> nn.Module:
    """Zero all parameters of ``module`` (output projections that must start as no-ops)."""
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


def feature_spread(x: Tensor) -> tuple[Tensor, Tensor]:
    """Per-image, per-channel mean and spread (standard deviation + 1e-6 under the root) of
    (B, C, H, W) features: the scale of a residual that enhances them."""
    mean = x.mean(dim=(2, 3), keepdim=True)
    return mean, ((x - mean) ** 2).mean(dim=(2, 3), keepdim=True).add(1e-6).sqrt()


def softmax_expectation(logits: Tensor, values: Tensor, dim: int = 1,
                        keepdim: bool = False) -> Tensor:
    """``(softmax(logits, dim) * values).sum(dim)`` with the softmax written out (one division
    per output instead of per logit). ONNX Runtime's Softmax on any axis but the last
    transposes around the kernel: 13 of 31 ms of the mono graph at 192x640 went there.
    Computed in float32 under autocast too (as ``torch.softmax`` is)."""
    x = logits.float()
    e = torch.exp(x - x.amax(dim=dim, keepdim=True))
    return (e * values).sum(dim, keepdim=keepdim) / e.sum(dim, keepdim=keepdim)


def upsample2x(x: Tensor) -> Tensor:
    """Bilinear x2 (ONNX Resize with constant scales)."""
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


def resize_to(x: Tensor, size: tuple[int, int] | list[int]) -> Tensor:
    """Bilinear resize to an explicit (height, width)."""
    return F.interpolate(x, size=(int(size[0]), int(size[1])), mode="bilinear",
                         align_corners=False)


class ResidualBlock(nn.Module):
    """``relu(x + conv(relu(conv(x))))`` at constant width."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = conv3x3(channels, channels)
        self.conv2 = conv3x3(channels, channels)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x + self.conv2(F.relu(self.conv1(x))))
