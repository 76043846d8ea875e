"""Invertible coupling stages: exact inverse, identity at init, bi-Lipschitz bounds."""

from __future__ import annotations

import pytest
import torch

from iid_rdepth_ros.model import build_model, get_preset
from iid_rdepth_ros.model.invertible import (
    CouplingBlock,
    CouplingStack,
    LipschitzSubnet,
    conv_lipschitz_bound,
    converge_spectral_norm,
)

CFG = get_preset().invertible


def _randomise(module: torch.nn.Module, seed: int, gain: float = 3.0) -> None:
    """Move every sub-network far from the identity (gains near their bound)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("gain_raw"):
                p.fill_(gain)
            else:
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    converge_spectral_norm(module, 60)
    module.eval()


def _fine_stages():
    model = build_model(get_preset("lite0-96x320"), variant="full", pretrained_encoder=False)
    return {lv: model.decoder.stages[lv].post for lv in (0, 1)}, model.cfg.decoder.channels


def test_identity_at_construction() -> None:
    stages, _ = _fine_stages()
    x = torch.randn(1, stages[0].blocks[0].half * 2, 12, 20)
    with torch.no_grad():
        assert torch.equal(stages[0](x), x)
        assert torch.equal(stages[0].inverse(x), x)


@pytest.mark.parametrize("level,size", [(0, (48, 160)), (1, (24, 80))])
def test_inverse_of_forward_realistic_sizes(level: int, size: tuple[int, int]) -> None:
    stages, channels = _fine_stages()
    stack = stages[level]
    _randomise(stack, seed=level)
    x = torch.randn(1, channels[level], *size) * 2.0
    with torch.no_grad():
        y = stack(x)
        assert (y - x).abs().max() > 0.1  # really away from the identity
        err = (stack.inverse(y) - x).abs().max().item()
        err_rev = (stack(stack.inverse(y)) - y).abs().max().item()
    assert err <= 1e-4, err
    assert err_rev <= 1e-4, err_rev


def _ratios(f, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    fx, fy = f(x), f(y)
    dx = (x - y).flatten(1).norm(dim=1)
    df = (fx - fy).flatten(1).norm(dim=1)
    return float((df / dx).max()), float((dx / df).max())


def test_empirical_bi_lipschitz_random_pairs() -> None:
    torch.manual_seed(0)
    radius = 3.0
    stack = CouplingStack(32, 2, 16, CFG.subnet_lipschitz, CFG.scale_bound)
    _randomise(stack, seed=7)
    with torch.no_grad():
        for scale in (1.0, 1e-2):
            x = (torch.rand(16, 32, 24, 40) * 2 - 1) * radius
            y = (x + scale * torch.randn_like(x)).clamp(-radius, radius)
            radii = [max(a, b) for a, b in zip(stack.radii(x), stack.radii(y), strict=True)]
            lf, li = stack.lipschitz_bounds(radii)
            fwd, inv = _ratios(stack, x, y)
            assert fwd <= lf, (fwd, lf)
            assert inv <= li, (inv, li)  # ||x - y|| <= Li ||f(x) - f(y)||
            assert 1.0 / li <= fwd  # consistent lower bound


def test_bounds_hold_against_adversarial_search() -> None:
    """Gradient ascent on the expansion ratio of one block stays below the stated bound."""
    torch.manual_seed(1)
    radius = 2.0
    block = CouplingBlock(16, 16, CFG.subnet_lipschitz, CFG.scale_bound)
    _randomise(block, seed=3)
    for p in block.parameters():
        p.requires_grad_(False)
    lf, li = block.lipschitz_bounds(radius)
    for direction, bound in (("forward", lf), ("inverse", li)):
        x = ((torch.rand(4, 16, 8, 8) * 2 - 1) * radius).requires_grad_(True)
        d = (torch.randn(4, 16, 8, 8) * 0.1).requires_grad_(True)
        opt = torch.optim.Adam([x, d], lr=0.05)
        best = 0.0
        for _ in range(40):
            xa = x.clamp(-radius, radius)
            xb = (x + d).clamp(-radius, radius)
            fa, fb = block(xa), block(xb)
            num = (fa - fb).flatten(1).norm(dim=1)
            den = (xa - xb).flatten(1).norm(dim=1) + 1e-12
            ratio = num / den if direction == "forward" else den / (num + 1e-12)
            best = max(best, float(ratio.detach().max()))
            opt.zero_grad()
            (-ratio.sum()).backward()
            opt.step()
        assert best <= bound, (direction, best, bound)
        assert best > 1.0 / bound


def test_block_bound_formula_values() -> None:
    block = CouplingBlock(8, 8, 0.5, 0.5)
    lf, li = block.lipschitz_bounds(0.0)
    e = 2.718281828459045 ** 0.5
    assert lf == pytest.approx(1.5 * (e + 0.5))
    assert li == pytest.approx(1.5 * e * 1.5)
    lf2, li2 = block.lipschitz_bounds(2.0)
    assert lf2 > lf and li2 > li


def test_conv_bound_is_needed_and_attained() -> None:
    """A 3x3 conv whose reshaped weight has norm 1 can expand by ~3 (so the /3 gain is due)."""
    conv = torch.nn.Conv2d(4, 4, 3, padding=1, bias=False)
    w = torch.zeros(4, 4, 3, 3)
    w[0, 0] = 1.0 / 3.0  # W_mat row 0 = [1/3] * 9 on channel 0: spectral norm 1
    with torch.no_grad():
        conv.weight.copy_(w)
    assert torch.linalg.matrix_norm(w.reshape(4, -1), ord=2) == pytest.approx(1.0)
    x = torch.zeros(1, 4, 64, 64)
    x[:, 0] = 1.0
    with torch.no_grad():
        ratio = float(conv(x).norm() / x.norm())
    assert 2.8 < ratio <= conv_lipschitz_bound(3)


def test_subnet_lipschitz_bound_adversarial() -> None:
    torch.manual_seed(2)
    net = LipschitzSubnet(8, 8, 16, lipschitz=0.5)
    _randomise(net, seed=5, gain=10.0)
    for p in net.parameters():
        p.requires_grad_(False)
    x = torch.randn(4, 8, 8, 8, requires_grad=True)
    d = (0.1 * torch.randn(4, 8, 8, 8)).requires_grad_(True)
    opt = torch.optim.Adam([x, d], lr=0.05)
    best = 0.0
    for _ in range(60):
        ratio = (net(x) - net(x + d)).flatten(1).norm(dim=1) / d.flatten(1).norm(dim=1)
        best = max(best, float(ratio.detach().max()))
        opt.zero_grad()
        (-ratio.sum()).backward()
        opt.step()
    assert 0.05 < best <= 0.5
