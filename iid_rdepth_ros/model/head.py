"""Bin head: per-pixel probabilities over the adaptive bins, depth = softmax(logits) . centres."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .avlfe import StereoPrior
from .layers import conv1x1, conv_relu, resize_to, softmax_expectation


class BinHead(nn.Module):
    """Depth at the decoder's finest resolution as the expected bin centre."""

    def __init__(self, channels: int, n_bins: int) -> None:
        super().__init__()
        self.logits = nn.Sequential(conv_relu(channels, channels, kernel=3),
                                    conv1x1(channels, n_bins))

    def forward(self, x: Tensor, centres: Tensor, prior: StereoPrior | None = None) -> Tensor:
        """``x`` (B, C, h, w), ``centres`` (B, n_bins) -> depth (B, 1, h, w).

        ``prior`` (stereo, from AV-LFE) adds the Cauchy log-likelihood
        ``-weight * log(1 + ((log c_k - mu) / sigma)^2)`` of every bin centre ``c_k`` to the
        logits: a product of the mono and stereo distributions whose heavy tails keep a wrong
        match from wiping out the mono bins. ``weight`` is 0 in a new model.
        """
        logits = self.logits(x)
        if prior is not None:
            mu, sigma, weight = prior
            if mu.shape[-2:] != x.shape[-2:]:
                mu, sigma, weight = (resize_to(t, x.shape[-2:]) for t in (mu, sigma, weight))
            z = (torch.log(centres)[:, :, None, None] - mu) / sigma
            logits = logits - weight * torch.log1p(z * z)
        return softmax_expectation(logits, centres[:, :, None, None], keepdim=True)
