"""The whole forward pass is capture-clean: no host<->device copy, no sync, no host tensor.

What CUDA graphs need (the runtime captures ``forward`` per input size, see
``runtime/cuda_graphs.py``). Checked on any machine: the model runs on the ``meta`` device
inside ``capture_guard.host_traffic`` (test/helpers), which records every host-touching call;
on a GPU ``test/runtime/test_cuda_graphs.py`` captures it for real.
"""

from __future__ import annotations

import copy

import pytest
import torch
from capture_guard import host_traffic_of

from iid_rdepth_ros.model import build_model, get_preset
from iid_rdepth_ros.model.checkpoint import load_model
from iid_rdepth_ros.model.diffusion import InvTIndDiffusion

HW = (64, 192)


def _model(kind: str) -> torch.nn.Module:
    if kind == "shipped":  # the shipped model: diffusion and its stereo path
        model = load_model("default")[0]
    else:  # AV-LFE with its refinement, or the geometry-first matcher + fusion
        cfg = copy.deepcopy(get_preset())
        if kind == "matcher":
            cfg.avlfe.enabled, cfg.stereo.enabled = False, True
        model = build_model(cfg, variant="full", pretrained_encoder=False)
        assert (model.refiner is not None) if kind == "avlfe" else model.matcher is not None
    assert model.diffusion is not None and model.has_stereo
    return model.for_export().to("meta")


@pytest.fixture(scope="module", params=["shipped", "avlfe", "matcher"])
def meta_model(request: pytest.FixtureRequest) -> torch.nn.Module:
    return _model(request.param)


def _run(model: torch.nn.Module, stereo: bool) -> list[str]:
    image = torch.rand(1, 3, *HW, device="meta")
    kwargs = {}
    if stereo:
        kwargs = {"aux": torch.rand(1, 3, *HW, device="meta"),
                  "fb": torch.full((1,), 389.0, device="meta")}
    with torch.inference_mode():
        return host_traffic_of(model, image, **kwargs)


@pytest.mark.parametrize("stereo", [False, True], ids=["mono", "stereo"])
def test_forward_touches_no_host_memory(meta_model: torch.nn.Module, stereo: bool) -> None:
    events = _run(meta_model, stereo)
    assert events == [], "host traffic inside forward:\n" + "\n".join(events)


def test_guard_catches_a_host_to_device_copy(meta_model: torch.nn.Module,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The check fails when someone adds a copy: here the diffusion module builds a tensor
    on the host per call and moves it to the device (what the denoiser's timestep embedding
    used to do)."""
    restore = InvTIndDiffusion.restore

    def restore_with_copy(self: InvTIndDiffusion, level2: torch.Tensor, level3: torch.Tensor,
                          steps: int) -> torch.Tensor:
        scale = torch.linspace(1.0, 1.0, 1).to(level2.device)
        return restore(self, level2, level3, steps) * scale

    monkeypatch.setattr(InvTIndDiffusion, "restore", restore_with_copy)
    events = _run(meta_model, stereo=False)
    assert any(e.split()[0] in ("aten::to", "aten::_to_copy") for e in events), events


@pytest.mark.parametrize(
    ("name", "fn"),
    [
        ("torch.tensor on the device", lambda x: x * torch.tensor(2.0, device=x.device)),
        (".to(device) of a host tensor", lambda x: x + torch.arange(x.shape[-1]).to(x.device)),
        ("Python float of a device value", lambda x: x * float(x.mean())),
        ("branch on a device value", lambda x: x if x.sum() > 0 else -x),
        (".item()", lambda x: x * x.amax().item()),
        (".cpu()", lambda x: x.cpu()),
        ("boolean-mask indexing", lambda x: x[x > 0]),
        ("new_tensor", lambda x: x + x.new_tensor([1.0])),
    ],
)
def test_guard_flags_each_kind_of_host_traffic(name: str, fn) -> None:
    assert host_traffic_of(fn, torch.rand(1, 3, 8, 8, device="meta")), name


def test_guard_passes_device_side_construction() -> None:
    def clean(x: torch.Tensor) -> torch.Tensor:
        ramp = torch.arange(x.shape[-1], device=x.device, dtype=x.dtype)
        return torch.as_tensor(x, device=x.device) + ramp * torch.full_like(x, 2.0)

    assert host_traffic_of(clean, torch.rand(1, 3, 8, 8, device="meta")) == []
