"""Bin-centre predictor (BCP): adaptive depth bins from the globally pooled DQI output."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def initial_bin_widths(n_bins: int, min_depth: float, max_depth: float, near: float,
                       space: str) -> list[float]:
    """Normalised widths of the initial bins (they sum to 1).

    ``log``: one bin covers [min_depth, near], the rest are uniform in log depth up to
    max_depth (so min_depth = 1e-3 does not waste bins below a metre). ``linear``: uniform.
    """
    if space == "linear":
        return [1.0 / n_bins] * n_bins
    total = math.log(max_depth) - math.log(min_depth)
    first = (math.log(near) - math.log(min_depth)) / total
    rest = (1.0 - first) / (n_bins - 1)
    return [first] + [rest] * (n_bins - 1)


class BinCentrePredictor(nn.Module):
    """Per-image bin centres in metres, shape (B, n_bins), increasing, inside the depth range.

    Bins live in ``space`` (``log`` or ``linear`` depth) over [min_depth, max_depth]: an MLP
    on the pooled DQI output gives width logits, ``softmax`` gives widths that sum to 1, their
    cumulative sum (a matmul with a constant triangular matrix, which every ONNX/TensorRT
    version parses) gives the edges, and centres are edge midpoints mapped back to metres.
    The last layer starts at zero weight with the bias set to the initial widths.
    """

    def __init__(self, in_channels: int, n_bins: int, hidden: int, min_depth: float,
                 max_depth: float, space: str = "log", init_near: float = 1.0) -> None:
        super().__init__()
        if space not in ("log", "linear"):
            raise ValueError(f"bin space must be 'log' or 'linear', got {space!r}")
        self.space = space
        self.n_bins = n_bins
        lo, hi = (math.log(min_depth), math.log(max_depth)) if space == "log" else (
            min_depth, max_depth)
        self.lo, self.hi = float(lo), float(hi)
        self.mlp = nn.Sequential(nn.Linear(in_channels, hidden), nn.ReLU(inplace=True),
                                 nn.Linear(hidden, n_bins))
        widths = initial_bin_widths(n_bins, min_depth, max_depth, init_near, space)
        with torch.no_grad():
            self.mlp[2].weight.zero_()
            self.mlp[2].bias.copy_(torch.log(torch.tensor(widths)))
        # upper[i, j] = 1 for i <= j: widths @ upper = inclusive cumulative sum
        self.register_buffer("upper", torch.triu(torch.ones(n_bins, n_bins)), persistent=False)

    def forward(self, queries: Tensor) -> Tensor:
        widths = torch.softmax(self.mlp(queries.mean(dim=(2, 3))), dim=1)
        right = widths @ self.upper  # (B, n_bins) in (0, 1]
        centres = self.lo + (self.hi - self.lo) * (right - 0.5 * widths)
        return torch.exp(centres) if self.space == "log" else centres
