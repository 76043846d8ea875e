"""Invertible coupling blocks with bi-Lipschitz bounds that hold by construction.

Coupling (two streams, the channel halves ``x1``, ``x2``; sub-networks as in the figure)::

    y2 = x2 * exp(s * tanh(G(x1))) + H(x1)      multiplicative + additive coupling
    y1 = x1 + G'(y2)                             additive coupling back into stream 1

    inverse:  x1 = y1 - G'(y2);   x2 = (y2 - H(x1)) * exp(-s * tanh(G(x1)))   (exact)

Every sub-network N in {G, H, G'} is ``g * conv1x1(leaky_relu(conv3x3(x)))`` with both convs
spectrally normalised (``torch.nn.utils.parametrizations.spectral_norm``: the reshaped weight
matrix has norm 1) and a bounded gain ``g = L * tanh(a) / 3``. A k x k convolution whose
reshaped weight has norm 1 is at most ``k``-Lipschitz (each input pixel enters k*k patches),
LeakyReLU is 1-Lipschitz, hence ``Lip(N) <= L`` (``InvertibleConfig.subnet_lipschitz``). The
scale ``exp(s * tanh(.))`` lies in [exp(-s), exp(s)] and is ``s * exp(s)``-Lipschitz in its
argument. With ``|x2| <= R`` elementwise (a product with unbounded ``x2`` is not globally
Lipschitz, so the bounds are stated on the ball of radius R) one block satisfies::

    Lip(f)      <= (1 + L) * (e^s + R s e^s L + L)                  forward_lipschitz_bound
    Lip(f^-1)   <= (1 + L) * (e^s (1 + L) + R s e^(2s) L)            inverse_lipschitz_bound

(each half-step is a triangular map ``(a, b) -> (a, phi(a, b))`` whose Lipschitz constant is
at most ``max(1, Lip_b phi) + Lip_a phi``). A stack of K blocks multiplies the bounds. The
gains start at zero, so every block is exactly the identity when built. The spectral-norm
power iteration runs once per training forward; ``converge_spectral_norm`` runs more (the
bounds assume it has converged).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm


def conv_lipschitz_bound(kernel_size: int) -> float:
    """Lipschitz bound of a stride-1 conv whose reshaped weight has spectral norm 1."""
    return float(kernel_size)


def block_forward_lipschitz_bound(subnet_lipschitz: float, scale_bound: float,
                                  radius: float) -> float:
    """Bound of one coupling block's forward map for inputs with ``|x2| <= radius``."""
    lip, s = subnet_lipschitz, scale_bound
    es = math.exp(s)
    return (1 + lip) * (es + radius * s * es * lip + lip)


def block_inverse_lipschitz_bound(subnet_lipschitz: float, scale_bound: float,
                                  radius: float) -> float:
    """Bound of one coupling block's inverse for preimages with ``|x2| <= radius``."""
    lip, s = subnet_lipschitz, scale_bound
    es = math.exp(s)
    return (1 + lip) * (es * (1 + lip) + radius * s * es * es * lip)


class LipschitzSubnet(nn.Module):
    """``g * conv1x1(leaky_relu(conv3x3(x)))``, spectrally normalised, ``Lip <= lipschitz``."""

    def __init__(self, cin: int, cout: int, hidden: int, lipschitz: float) -> None:
        super().__init__()
        self.lipschitz = float(lipschitz)
        self.conv1 = spectral_norm(nn.Conv2d(cin, hidden, 3, padding=1))
        self.conv2 = spectral_norm(nn.Conv2d(hidden, cout, 1))
        self.conv_bound = conv_lipschitz_bound(3) * conv_lipschitz_bound(1)
        self.gain_raw = nn.Parameter(torch.zeros(1))

    def gain(self) -> Tensor:
        return self.lipschitz * torch.tanh(self.gain_raw) / self.conv_bound

    def forward(self, x: Tensor) -> Tensor:
        return self.gain() * self.conv2(F.leaky_relu(self.conv1(x), 0.2))


class CouplingBlock(nn.Module):
    """One invertible coupling block (see the module docstring for the exact form).

    ``swap=True`` exchanges the roles of the two channel halves, so consecutive blocks scale
    both halves while the block still maps each half back to its own channels.
    """

    def __init__(self, channels: int, hidden: int, subnet_lipschitz: float,
                 scale_bound: float, swap: bool = False) -> None:
        super().__init__()
        if channels % 2:
            raise ValueError(f"coupling blocks need an even channel count, got {channels}")
        half = channels // 2
        self.half = half
        self.swap = swap
        self.scale_bound = float(scale_bound)
        self.subnet_lipschitz = float(subnet_lipschitz)
        self.g_scale = LipschitzSubnet(half, half, hidden, subnet_lipschitz)
        self.h_shift = LipschitzSubnet(half, half, hidden, subnet_lipschitz)
        self.g_update = LipschitzSubnet(half, half, hidden, subnet_lipschitz)

    def _split(self, x: Tensor) -> tuple[Tensor, Tensor]:
        a, b = x[:, :self.half], x[:, self.half:]
        return (b, a) if self.swap else (a, b)

    def _join(self, s1: Tensor, s2: Tensor) -> Tensor:
        return torch.cat([s2, s1] if self.swap else [s1, s2], dim=1)

    def log_scale(self, x1: Tensor) -> Tensor:
        return self.scale_bound * torch.tanh(self.g_scale(x1))

    def forward(self, x: Tensor) -> Tensor:
        x1, x2 = self._split(x)
        y2 = x2 * torch.exp(self.log_scale(x1)) + self.h_shift(x1)
        y1 = x1 + self.g_update(y2)
        return self._join(y1, y2)

    def inverse(self, y: Tensor) -> Tensor:
        y1, y2 = self._split(y)
        x1 = y1 - self.g_update(y2)
        x2 = (y2 - self.h_shift(x1)) * torch.exp(-self.log_scale(x1))
        return self._join(x1, x2)

    def stream2_radius(self, x: Tensor) -> float:
        """max |x2| of an input: the R the bounds need."""
        return float(self._split(x)[1].abs().max())

    def lipschitz_bounds(self, radius: float) -> tuple[float, float]:
        """(forward, inverse) Lipschitz bounds for inputs with ``|x2| <= radius``."""
        return (block_forward_lipschitz_bound(self.subnet_lipschitz, self.scale_bound, radius),
                block_inverse_lipschitz_bound(self.subnet_lipschitz, self.scale_bound, radius))


class CouplingStack(nn.Module):
    """K coupling blocks with alternating stream roles; exact ``inverse``."""

    def __init__(self, channels: int, blocks: int, hidden: int, subnet_lipschitz: float,
                 scale_bound: float) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            CouplingBlock(channels, hidden, subnet_lipschitz, scale_bound, swap=bool(k % 2))
            for k in range(blocks))

    def forward(self, x: Tensor) -> Tensor:
        for block in self.blocks:
            x = block(x)
        return x

    def inverse(self, y: Tensor) -> Tensor:
        for block in reversed(self.blocks):
            y = block.inverse(y)
        return y

    def radii(self, x: Tensor) -> list[float]:
        """Per block, max |x2| of its input when the stack is applied to ``x``."""
        out = []
        with torch.no_grad():
            for block in self.blocks:
                out.append(block.stream2_radius(x))
                x = block(x)
        return out

    def lipschitz_bounds(self, radii: list[float]) -> tuple[float, float]:
        """(forward, inverse) bounds: products of the blocks' bounds at the given radii."""
        fwd, inv = 1.0, 1.0
        for block, radius in zip(self.blocks, radii, strict=True):
            f, i = block.lipschitz_bounds(radius)
            fwd, inv = fwd * f, inv * i
        return fwd, inv


def converge_spectral_norm(module: nn.Module, iterations: int = 50) -> None:
    """Run extra power iterations on every spectral-norm parametrisation inside ``module``."""
    was_training = module.training
    module.train(True)
    with torch.no_grad():
        for sub in module.modules():
            if parametrize.is_parametrized(sub, "weight"):
                for _ in range(iterations):
                    _ = sub.weight  # one power iteration per access in training mode
    module.train(was_training)
