"""SILog loss and the LR schedule against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from iid_rdepth_ros.training.losses import log_l1_loss, silog_loss
from iid_rdepth_ros.training.schedule import lr_factor


def test_silog_hand_computed_with_invalid_pixels() -> None:
    pred = torch.tensor([[2.0, 4.0, 7.0, 3.0]])
    gt = torch.tensor([[1.0, 4.0, 0.0, 100.0]])  # no measurement, beyond max_depth
    loss = silog_loss(pred, gt, max_depth=80.0)
    # g = [ln 2, 0]: mean(g^2) = ln2^2 / 2, mean(g)^2 = ln2^2 / 4
    d = math.log(2) ** 2 / 2 - 0.85 * math.log(2) ** 2 / 4
    assert loss.item() == pytest.approx(10 * math.sqrt(d), rel=1e-6)


def test_silog_lambda_one_is_scale_invariant() -> None:
    gt = torch.rand(2, 1, 8, 8) * 50 + 1
    pred = gt * 3.0
    assert silog_loss(pred, gt, lam=1.0).item() < 1e-2
    assert silog_loss(pred, gt).item() > 1.0  # lambda = 0.85 keeps some scale sensitivity


def test_silog_no_valid_pixel_gives_zero_without_nan() -> None:
    pred = torch.rand(1, 1, 4, 4, requires_grad=True)
    loss = silog_loss(pred + 1, torch.zeros(1, 1, 4, 4))
    loss.backward()
    assert loss.item() == 0.0
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() == 0


def test_silog_gradient_finite_at_perfect_prediction() -> None:
    gt = torch.rand(1, 1, 4, 4) * 10 + 1
    pred = gt.clone().requires_grad_(True)
    silog_loss(pred, gt).backward()
    assert torch.isfinite(pred.grad).all()


def test_silog_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="shape"):
        silog_loss(torch.ones(1, 4), torch.ones(1, 5))


def test_lr_schedule_warmup_and_cosine() -> None:
    assert lr_factor(0, 100, warmup=10) == pytest.approx(0.1)
    assert lr_factor(9, 100, warmup=10) == pytest.approx(1.0)
    assert lr_factor(10, 100, warmup=10, min_ratio=0.1) == pytest.approx(1.0)
    assert lr_factor(99, 100, warmup=10, min_ratio=0.1) == pytest.approx(0.1)
    mid = lr_factor(10 + 89 // 2, 100, warmup=10, min_ratio=0.0)
    assert 0.4 < mid < 0.6
    assert lr_factor(50, 100, warmup=10, kind="constant") == 1.0
    with pytest.raises(ValueError):
        lr_factor(0, 10, kind="linear")


def test_log_l1_hand_computed_and_scale_aware() -> None:
    gt = torch.tensor([[1.0, 4.0, 0.0, 100.0]])  # no measurement, beyond max_depth
    log_pred = torch.log(torch.tensor([[2.0, 2.0, 7.0, 3.0]]))
    assert log_l1_loss(log_pred, gt).item() == pytest.approx(math.log(2), rel=1e-6)
    # twice the true depth everywhere is an error of ln 2, unlike SILog with lambda = 1
    dense = torch.rand(1, 1, 4, 4) * 10 + 1
    assert log_l1_loss(torch.log(2 * dense), dense).item() == pytest.approx(math.log(2))
    # errors ln 2 and ln 0.5: mean |e| = ln 2, mean e^2 = (ln 2)^2
    sq = log_l1_loss(log_pred, gt, sq_weight=3.0).item()
    assert sq == pytest.approx(math.log(2) + 3.0 * math.log(2) ** 2, rel=1e-6)


def test_log_l1_without_valid_pixel_and_bad_shapes() -> None:
    log_pred = torch.zeros(1, 1, 4, 4, requires_grad=True)
    loss = log_l1_loss(log_pred, torch.zeros(1, 1, 4, 4))
    loss.backward()
    assert loss.item() == 0.0 and float(log_pred.grad.abs().sum()) == 0.0
    with pytest.raises(ValueError, match="shape"):
        log_l1_loss(torch.zeros(1, 4), torch.ones(1, 5))

