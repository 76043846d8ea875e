"""InvT-IndDiffusion: restoration of encoder levels 2/3 by indirectly supervised DDIM steps.

The frozen encoder's level-2 and level-3 features are treated as degraded versions of an
unknown ideal feature. Both levels (level 3 upsampled x2) are concatenated into the mutual
conditional maps ``m``. Two learned 1x1 projections with GroupNorm map ``m`` into a modest,
normalised restoration space: the degraded sample ``z`` and the condition ``c``.

Sampling is deterministic (no random noise, so the ONNX graph is fixed): ``x = z``; for each
of the T timesteps (a Python loop, unrolled) the denoiser predicts the restored feature
``x0 = z + U(x, t, c)`` and the DDIM scheduler moves ``x`` to the previous timestep. The last
``x0`` is projected back with zero-initialised 1x1 convs and added as residuals::

    level2' = level2 + P2(x0)          level3' = level3 + P3(avgpool2(x0))

so a freshly built module returns the encoder features unchanged (stage 2 starts exactly at
the baseline) and can only learn away from it. There is no feature ground truth: the only
training signal is the depth loss back-propagated through the unrolled steps.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import DiffusionConfig
from .denoiser import ConditionalUNet
from .layers import conv1x1, upsample2x, zero_init
from .scheduler import DDIMScheduler


class InvTIndDiffusion(nn.Module):
    """Restores (level2, level3) -> (level2', level3') with T deterministic DDIM steps."""

    def __init__(self, level2_channels: int, level3_channels: int, cfg: DiffusionConfig) -> None:
        super().__init__()
        self.cfg = cfg
        width = cfg.width
        mutual = level2_channels + level3_channels
        self.degraded = nn.Sequential(conv1x1(mutual, width), nn.GroupNorm(8, width))
        self.condition = nn.Sequential(conv1x1(mutual, width), nn.GroupNorm(8, width), nn.SiLU())
        self.denoiser = ConditionalUNet(width, width, cfg.unet_channels, cfg.time_embed_dim)
        self.to_level2 = zero_init(conv1x1(width, level2_channels))
        self.to_level3 = zero_init(conv1x1(width, level3_channels))
        self.scheduler = DDIMScheduler(
            num_train_timesteps=cfg.num_train_timesteps, beta_schedule=cfg.beta_schedule,
            beta_start=cfg.beta_start, beta_end=cfg.beta_end, prediction_type="sample")

    def timesteps(self, steps: int) -> list[int]:
        """The ``steps`` timesteps run from the degraded features (strength-truncated)."""
        if steps < 1:
            raise ValueError(f"diffusion steps must be >= 1, got {steps}")
        total = min(max(steps, round(steps / self.cfg.strength)), self.cfg.num_train_timesteps)
        return self.scheduler.set_timesteps(total)[-steps:]

    def restore(self, level2: Tensor, level3: Tensor, steps: int) -> Tensor:
        """Restored feature in the restoration space (B, width, h2, w2)."""
        mutual = torch.cat([level2, upsample2x(level3)], dim=1)
        z = self.degraded(mutual)
        cond = self.condition(mutual)
        x = z
        x0 = z
        for t in self.timesteps(steps):
            x0 = z + self.denoiser(x, t, cond)
            x = self.scheduler.step(x0, t, x)
        return x0

    def forward(self, level2: Tensor, level3: Tensor, steps: int) -> tuple[Tensor, Tensor]:
        if level3.shape[-2] * 2 != level2.shape[-2] or level3.shape[-1] * 2 != level2.shape[-1]:
            raise ValueError(f"level 3 {tuple(level3.shape)} must be half of level 2 "
                             f"{tuple(level2.shape)}")
        x0 = self.restore(level2, level3, steps)
        return level2 + self.to_level2(x0), level3 + self.to_level3(F.avg_pool2d(x0, 2))
