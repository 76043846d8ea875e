"""Resume state: model, AdamW and RNG survive a save/load round trip without pickle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from iid_rdepth_ros.training.resume_state import load_state, save_state, state_dir


def _net() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.BatchNorm1d(5),
                               torch.nn.Linear(5, 1))


def _steps(model: torch.nn.Module, opt: torch.optim.Optimizer, n: int) -> None:
    for _ in range(n):
        x = torch.randn(8, 6)  # draws from the global RNG, which the state must restore
        opt.zero_grad()
        model(x).pow(2).mean().backward()
        opt.step()


def test_round_trip_continues_identically(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = _net()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    _steps(model, opt, 3)
    save_state(tmp_path / "resume", {"stage": 1, "step": 3}, model=model, optimizer=opt)
    np_draw = np.random.rand()
    _steps(model, opt, 4)  # the uninterrupted continuation

    torch.manual_seed(123)  # a different process state before resuming
    other = _net()
    opt2 = torch.optim.AdamW(other.parameters(), lr=1.0)
    state = load_state(tmp_path / "resume", model=other, optimizer=opt2)
    assert state["step"] == 3 and state["stage"] == 1
    assert np.random.rand() == np_draw
    _steps(other, opt2, 4)
    for (k, a), b in zip(model.state_dict().items(), other.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    assert opt2.param_groups[0]["lr"] == pytest.approx(1e-2)


def test_files_are_safetensors_and_json(tmp_path: Path) -> None:
    model = _net()
    opt = torch.optim.AdamW(model.parameters())
    _steps(model, opt, 1)
    save_state(tmp_path / "r", {"step": 1}, model=model, optimizer=opt)
    files = sorted(p.name for p in (tmp_path / "r").iterdir())
    assert files == ["state.json", "state.safetensors"]
    tensors = load_file(str(tmp_path / "r" / "state.safetensors"))
    assert any(k.startswith("optim.") and k.endswith("exp_avg") for k in tensors)
    assert json.loads((tmp_path / "r" / "state.json").read_text())["step"] == 1
    # overwriting keeps exactly one readable state and no leftovers
    save_state(tmp_path / "r", {"step": 2}, model=model, optimizer=opt)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]
    assert load_state(tmp_path / "r", restore_rng=False)["step"] == 2


def test_missing_state_is_a_clear_error(tmp_path: Path) -> None:
    assert state_dir(tmp_path / "none") is None
    with pytest.raises(FileNotFoundError, match="no resume state"):
        load_state(tmp_path / "none")
    save_state(tmp_path / "s", {"step": 0})
    with pytest.raises(ValueError, match="no model state"):
        load_state(tmp_path / "s", model=_net())
