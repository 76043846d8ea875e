"""The geometry-first stereo path inside IIDRDepth (``cfg.stereo``): mono unchanged without
an auxiliary view, confidence beside depth with one, config rules."""

from __future__ import annotations

import copy

import pytest
import torch

from iid_rdepth_ros.model import build_model, get_preset
from iid_rdepth_ros.model.config import ModelConfig

PRESET = "lite0-96x320"


def _stereo_config() -> ModelConfig:
    cfg = copy.deepcopy(get_preset(PRESET))
    cfg.avlfe.enabled = False
    cfg.stereo.enabled = True
    cfg.stereo.max_disparity = 64
    return cfg


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(_stereo_config(), variant="full", pretrained_encoder=False).eval()


def _inputs(h: int = 96, w: int = 320) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    image = torch.rand(1, 3, h, w, generator=g)
    return image, torch.roll(image, shifts=-6, dims=-1)


def test_without_aux_the_model_is_its_mono_decoder(model: torch.nn.Module) -> None:
    image, _ = _inputs()
    with torch.no_grad():
        depth, confidence = model.forward_outputs(image)
        mono = model.decode(model.encode(image), out_size=tuple(image.shape[-2:]))
    assert confidence is None
    assert torch.equal(depth, mono)
    assert model.has_stereo and model.avlfe is None and model.refiner is None


def test_with_aux_depth_and_confidence(model: torch.nn.Module) -> None:
    image, aux = _inputs()
    with torch.no_grad():
        depth, confidence = model.forward_outputs(image, aux, fb=torch.tensor([150.0]))
        mono = model(image)
    assert depth.shape == confidence.shape == (1, 1, 96, 320)
    assert torch.isfinite(depth).all() and (depth > 0).all()
    assert float(confidence.min()) > 0 and float(confidence.max()) < 1
    assert not torch.equal(depth, mono)  # the auxiliary view changes the output
    with torch.no_grad():  # forward is forward_outputs' depth
        assert torch.equal(model(image, aux, fb=torch.tensor([150.0])), depth)
    with pytest.raises(ValueError, match="needs fb"):
        model.forward_outputs(image, aux)


def test_depth_loss_stages_leave_matcher_and_fusion_frozen() -> None:
    other = build_model(_stereo_config(), variant="full", pretrained_encoder=False)
    for stage in (1, 2):
        other.set_stage(stage)
        names = {n.split(".")[0] for n, _ in other.named_trainable_parameters()}
        assert names and not {"matcher", "fusion"} & names, (stage, names)


def test_config_rules() -> None:
    cfg = _stereo_config()
    cfg.avlfe.enabled = True
    with pytest.raises(ValueError, match="avlfe.enabled"):
        cfg.validate()
    plain = get_preset(PRESET).to_dict()
    plain.pop("stereo")  # a card written before the section existed
    assert ModelConfig.from_dict(plain).stereo.enabled is False
    for bad in (0, 60, 2048):
        cfg = _stereo_config()
        cfg.stereo.max_disparity = bad
        with pytest.raises(ValueError, match="max_disparity"):
            cfg.validate()
