"""Small conditional U-Net denoiser with a timestep embedding."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .layers import conv3x3, resize_to, zero_init


def timestep_embedding(timesteps: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal embedding (B,) -> (B, dim): [cos(t * f_k), sin(t * f_k)].

    Built on ``timesteps``' device (no host tensor copied in: CUDA-graph capturable)."""
    half = dim // 2
    steps = torch.arange(half, dtype=torch.float32, device=timesteps.device)
    freqs = torch.exp(-math.log(max_period) * steps / half)
    args = timesteps.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


def _groups(channels: int) -> int:
    return 8 if channels % 8 == 0 else 1


class TimeResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, the timestep embedding added in between, residual skip."""

    def __init__(self, cin: int, cout: int, time_dim: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(cin), cin)
        self.conv1 = conv3x3(cin, cout)
        self.time = nn.Linear(time_dim, cout)
        self.norm2 = nn.GroupNorm(_groups(cout), cout)
        self.conv2 = conv3x3(cout, cout)
        self.skip: nn.Module = nn.Identity() if cin == cout else nn.Conv2d(cin, cout, 1)

    def forward(self, x: Tensor, temb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time(temb)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class ConditionalUNet(nn.Module):
    """Three-level U-Net on ``cat[x_t, cond]`` predicting a correction of the sample.

    Levels at the input stride and x2, x4 coarser (stride-2 convs down, bilinear up to the
    skip's exact size, so odd sizes such as 11x38 work). The output convolution starts at zero.
    """

    def __init__(self, channels: int, cond_channels: int, widths: tuple[int, int, int],
                 time_dim: int) -> None:
        super().__init__()
        c0, c1, c2 = widths
        self.time_dim = time_dim
        self.time_mlp = nn.Sequential(nn.Linear(time_dim, time_dim), nn.SiLU(),
                                      nn.Linear(time_dim, time_dim))
        self.inp = conv3x3(channels + cond_channels, c0)
        self.enc0 = TimeResBlock(c0, c0, time_dim)
        self.down1 = conv3x3(c0, c1, stride=2)
        self.enc1 = TimeResBlock(c1, c1, time_dim)
        self.down2 = conv3x3(c1, c2, stride=2)
        self.mid = TimeResBlock(c2, c2, time_dim)
        self.dec1 = TimeResBlock(c2 + c1, c1, time_dim)
        self.dec0 = TimeResBlock(c1 + c0, c0, time_dim)
        self.out_norm = nn.GroupNorm(_groups(c0), c0)
        self.out = zero_init(conv3x3(c0, channels))

    def forward(self, sample: Tensor, timestep: int, cond: Tensor) -> Tensor:
        # one embedding broadcast over the batch: a constant in an exported graph
        t = torch.full((1,), float(timestep), device=sample.device)
        temb = self.time_mlp(timestep_embedding(t, self.time_dim))
        h0 = self.enc0(self.inp(torch.cat([sample, cond], dim=1)), temb)
        h1 = self.enc1(self.down1(h0), temb)
        h2 = self.mid(self.down2(h1), temb)
        u1 = self.dec1(torch.cat([resize_to(h2, h1.shape[-2:]), h1], dim=1), temb)
        u0 = self.dec0(torch.cat([resize_to(u1, h0.shape[-2:]), h0], dim=1), temb)
        return self.out(F.silu(self.out_norm(u0)))
