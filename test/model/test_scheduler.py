"""DDIM scheduler golden values (alphas, timesteps, one step against the formula by hand)."""

from __future__ import annotations

import math

import pytest
import torch

from iid_rdepth_ros.model.scheduler import DDIMScheduler, make_betas


def _linear_alpha_bar(t: int, n: int = 1000, b0: float = 1e-4, b1: float = 0.02) -> float:
    return math.prod(1.0 - (b0 + i * (b1 - b0) / (n - 1)) for i in range(t + 1))


def test_alphas_cumprod_linear_by_hand() -> None:
    s = DDIMScheduler(1000, "linear", 1e-4, 0.02)
    assert float(s.alphas_cumprod[0]) == pytest.approx(0.9999, abs=1e-12)
    # a_1 = (1 - 1e-4) * (1 - (1e-4 + 0.0199 / 999))
    assert float(s.alphas_cumprod[1]) == pytest.approx(0.9999 * (1 - 1.199199199e-4), rel=1e-9)
    for t in (10, 250, 500, 999):
        assert float(s.alphas_cumprod[t]) == pytest.approx(_linear_alpha_bar(t), rel=1e-9)


def test_scaled_linear_and_cosine_betas() -> None:
    betas = make_betas("scaled_linear", 1000, 0.00085, 0.012)
    assert float(betas[0]) == pytest.approx(0.00085)
    assert float(betas[-1]) == pytest.approx(0.012)
    mid = (0.00085 ** 0.5 + (0.012 ** 0.5 - 0.00085 ** 0.5) * 500 / 999) ** 2
    assert float(betas[500]) == pytest.approx(mid, rel=1e-12)
    cos = make_betas("squaredcos_cap_v2", 1000, 0.0, 0.0)
    ab = lambda t: math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2
    assert float(cos[0]) == pytest.approx(1 - ab(0.001) / ab(0.0), rel=1e-9)
    assert float(cos.max()) <= 0.999
    with pytest.raises(ValueError, match="linear"):
        make_betas("quadratic", 10, 0.1, 0.2)


def test_set_timesteps_golden() -> None:
    s = DDIMScheduler(1000, "linear", 1e-4, 0.02)
    assert s.set_timesteps(4) == [750, 500, 250, 0]
    assert s.set_timesteps(1) == [0]
    assert s.set_timesteps(3) == [666, 333, 0]
    with pytest.raises(ValueError):
        s.set_timesteps(0)


def test_step_matches_ddim_formula_by_hand() -> None:
    s = DDIMScheduler(1000, "linear", 1e-4, 0.02, prediction_type="sample")
    s.set_timesteps(4)
    sample = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    x0 = torch.tensor([0.5, 0.25, -1.0], dtype=torch.float64)
    a_t, a_p = _linear_alpha_bar(750), _linear_alpha_bar(500)
    expected = [math.sqrt(a_p) * c + math.sqrt(1 - a_p) * (x - math.sqrt(a_t) * c)
                / math.sqrt(1 - a_t) for x, c in zip(sample.tolist(), x0.tolist(), strict=True)]
    out = s.step(x0, 750, sample)
    assert out.tolist() == pytest.approx(expected, rel=1e-9)
    # last step lands on x0 exactly (final alpha_cumprod = 1)
    assert torch.allclose(s.step(x0, 0, sample), x0)


def test_epsilon_prediction_step_and_add_noise_consistency() -> None:
    s = DDIMScheduler(1000, "linear", 1e-4, 0.02, prediction_type="epsilon")
    s.set_timesteps(4)
    x0 = torch.tensor([0.3, -0.7], dtype=torch.float64)
    eps = torch.tensor([1.0, 2.0], dtype=torch.float64)
    xt = s.add_noise(x0, eps, torch.tensor([750]))
    a_t = _linear_alpha_bar(750)
    assert xt.tolist() == pytest.approx(
        [math.sqrt(a_t) * a + math.sqrt(1 - a_t) * e for a, e in zip([0.3, -0.7], [1.0, 2.0],
                                                                      strict=True)], rel=1e-9)
    # with the true noise, DDIM moves to the noised x0 at the previous timestep
    prev = s.step(eps, 750, xt)
    assert torch.allclose(prev, s.add_noise(x0, eps, torch.tensor([500])), atol=1e-12)


def test_step_rejects_bad_timestep() -> None:
    s = DDIMScheduler(100)
    with pytest.raises(RuntimeError):
        s.step(torch.zeros(1), 50, torch.zeros(1))
    s.set_timesteps(4)
    with pytest.raises(ValueError):
        s.step(torch.zeros(1), 100, torch.zeros(1))
