"""Whole network: outputs, stage switching, baseline -> stage-2 initialisation, parts."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.nn.utils import parametrize

from iid_rdepth_ros.model import build_model, get_preset
from iid_rdepth_ros.model.bcp import BinCentrePredictor
from iid_rdepth_ros.model.focal import (
    canonical_depth,
    network_focal,
    rescale_depth,
    resize_intrinsics,
    stereo_fb,
)
from iid_rdepth_ros.model.iid_rdepth import STAGE2_PREFIXES, parameter_report
from iid_rdepth_ros.model.upsample import ConvexUpsampler

PRESET = "lite0-96x320"


def _perturb(module: torch.nn.Module, seed: int, scale: float = 0.05) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g))


@pytest.fixture(scope="module")
def pair():
    torch.manual_seed(0)
    base = build_model(get_preset(PRESET), variant="baseline")
    for name, module in base.named_children():
        if name != "encoder":
            _perturb(module, seed=len(name))  # pretend stage 1 trained it
    full = build_model(get_preset(PRESET), variant="full")
    full.load_baseline_state(base.state_dict())
    return base.eval(), full.eval()


def test_output_shape_finite_positive(pair) -> None:
    base, full = pair
    cfg = full.cfg
    image, aux = torch.rand(1, 3, 96, 320), torch.rand(1, 3, 96, 320)
    with torch.no_grad():
        for depth in (base(image), full(image), full(image, aux, fb=stereo_fb(0.54, 190.0))):
            assert depth.shape == (1, 1, 96, 320)
            assert torch.isfinite(depth).all()
            assert float(depth.min()) >= cfg.min_depth and float(depth.max()) <= cfg.max_depth


def test_default_preset_full_size() -> None:
    model = build_model(get_preset(), variant="full").eval()
    with torch.no_grad():
        depth = model(torch.rand(1, 3, 192, 640), torch.rand(1, 3, 192, 640), fb=200.0)
        feats = model.encode(torch.rand(1, 3, 192, 640))
        half = model.decode(feats, out_size=(96, 320))
    assert depth.shape == (1, 1, 192, 640) and torch.isfinite(depth).all()
    assert half.shape == (1, 1, 96, 320)


def test_stage2_from_baseline_reproduces_baseline(pair) -> None:
    base, full = pair
    image, aux = torch.rand(1, 3, 96, 320), torch.rand(1, 3, 96, 320)
    with torch.no_grad():
        ref = base(image)
        assert torch.equal(full(image), ref)
        assert torch.equal(full(image, aux, fb=200.0), ref)
        assert torch.equal(full(image, steps=7), ref)


def test_load_baseline_state_rejects_wrong_states(pair) -> None:
    base, full = pair
    other = build_model(get_preset(PRESET), variant="full", pretrained_encoder=False)
    with pytest.raises(ValueError, match="stage-2"):
        other.load_baseline_state(full.state_dict())
    state = dict(base.state_dict())
    state.pop("bcp.mlp.0.weight")
    with pytest.raises(ValueError, match="bcp.mlp.0.weight"):
        other.load_baseline_state(state)
    cfg = get_preset(PRESET)
    cfg.decoder.channels = (16, 48, 96, 128)
    narrow = build_model(cfg, variant="baseline", pretrained_encoder=False)
    with pytest.raises(ValueError, match="shape"):
        other.load_baseline_state(narrow.state_dict())


def test_stage_switching_selects_parameters() -> None:
    model = build_model(get_preset(PRESET), variant="full", pretrained_encoder=False)
    names = lambda: {n for n, _ in model.named_trainable_parameters()}  # noqa: E731
    model.set_stage(1)
    s1 = names()
    assert any(n.startswith("dqi.") for n in s1) and any(n.startswith("bcp.") for n in s1)
    assert not any(n.startswith(STAGE2_PREFIXES) for n in s1)
    model.set_stage(2)
    s2 = names()
    for prefix in ("diffusion.", "avlfe.", "decoder.stages.0.post.", "decoder.stages.1.post.",
                   "decoder.stages.0.fuse", "head.", "upsampler."):
        assert any(n.startswith(prefix) for n in s2), prefix
    for prefix in ("dqi.", "bcp.", "decoder.stages.2.", "decoder.stages.3.", "encoder."):
        assert not any(n.startswith(prefix) for n in s2), prefix
    assert all(not p.requires_grad for p in model.encoder.parameters())
    assert len(model.trainable_parameters()) == len(s2)
    with pytest.raises(ValueError, match="stage"):
        model.set_stage(3)
    baseline = build_model(get_preset(PRESET), variant="baseline", pretrained_encoder=False)
    first = {n for n, _ in baseline.named_trainable_parameters()}
    baseline.set_stage(2)  # the ablation baseline keeps training its whole decoder
    assert {n for n, _ in baseline.named_trainable_parameters()} == first


def test_depth_loss_reaches_stage2_parts_through_unrolled_steps() -> None:
    torch.manual_seed(0)
    model = build_model(get_preset(PRESET), variant="full")
    _perturb(model.diffusion.to_level2, 1, 0.1)
    _perturb(model.diffusion.denoiser.out, 2, 0.1)
    _perturb(model.avlfe.enhancers["0"].out, 3, 0.1)
    model.train()
    image = torch.rand(1, 3, 96, 320)
    depth = model(image, torch.roll(image, -8, dims=-1), fb=100.0)
    depth.log().mean().backward()
    grads = {n: p.grad for n, p in model.named_trainable_parameters()}
    for name in ("diffusion.denoiser.inp.weight", "diffusion.degraded.0.weight",
                 "avlfe.enhancers.0.match.weight", "avlfe.enhancers.0.log_temperature",
                 "decoder.stages.0.post.blocks.0.g_scale.gain_raw"):
        assert grads[name] is not None and grads[name].abs().sum() > 0, name
    assert all(p.grad is None for p in model.encoder.parameters())


def test_steps_and_train_steps() -> None:
    cfg = get_preset(PRESET)
    cfg.diffusion.steps, cfg.diffusion.train_steps = 2, 3
    model = build_model(cfg, variant="full", pretrained_encoder=False)
    _perturb(model.diffusion, 4, 0.1)
    assert model.diffusion_steps(None) == 3
    model.eval()
    assert model.diffusion_steps(None) == 2 and model.diffusion_steps(5) == 5
    assert model.diffusion.timesteps(2) == [250, 0]  # strength 0.5: last 2 of 4
    image = torch.rand(1, 3, 96, 320)
    with torch.no_grad():
        assert not torch.equal(model(image, steps=1), model(image, steps=4))


def test_bad_images_raise() -> None:
    model = build_model(get_preset(PRESET), variant="baseline", pretrained_encoder=False)
    with pytest.raises(ValueError, match="multiples of 32"):
        model(torch.rand(1, 3, 100, 320))
    with pytest.raises(ValueError, match="RGB"):
        model(torch.rand(1, 1, 96, 320))
    with pytest.raises(ValueError, match="variant"):
        build_model(get_preset(PRESET), variant="tiny")


def test_export_copy_has_plain_weights(pair) -> None:
    _, full = pair
    exported = full.for_export()
    assert not any(parametrize.is_parametrized(m) for m in exported.modules())
    image = torch.rand(1, 3, 96, 320)
    with torch.no_grad():
        assert torch.allclose(exported(image, image, 150.0), full(image, image, 150.0))
    assert any(parametrize.is_parametrized(m) for m in full.modules())  # original untouched


def test_parameter_report(pair) -> None:
    _, full = pair
    report = parameter_report(full)
    assert report["encoder"] > 1_000_000
    for part in ("dqi", "decoder_stages", "bcp", "head", "upsampler", "diffusion",
                 "invertible", "avlfe"):
        assert report[part] > 0, part
    assert report["trainable_now"] < sum(v for k, v in report.items() if k != "trainable_now")


def test_convex_upsampler_starts_bilinear_and_stays_convex() -> None:
    torch.manual_seed(0)
    up = ConvexUpsampler(8, 8, factor=4)
    value = torch.rand(1, 1, 12, 20) * 10 + 1
    feats = torch.randn(1, 8, 12, 20)
    with torch.no_grad():
        out = up(value, feats)
        ref = F.interpolate(value, scale_factor=4, mode="bilinear", align_corners=False)
        assert out.shape == (1, 1, 48, 80)
        assert (out - ref)[..., 4:-4, 4:-4].abs().max() < 0.05
        _perturb(up, 5, 1.0)
        out = up(value, feats)
    assert float(out.min()) >= float(value.min()) - 1e-5
    assert float(out.max()) <= float(value.max()) + 1e-5


def test_bin_centres_increasing_in_range() -> None:
    torch.manual_seed(0)
    bcp = BinCentrePredictor(16, 32, 16, 1e-3, 80.0, "log", init_near=1.0)
    _perturb(bcp, 6, 0.5)
    with torch.no_grad():
        centres = bcp(torch.randn(3, 16, 4, 5))
    assert centres.shape == (3, 32)
    assert (centres.diff(dim=1) > 0).all()
    assert float(centres.min()) > 1e-3 and float(centres.max()) < 80.0
    fresh = BinCentrePredictor(16, 32, 16, 1e-3, 80.0, "log", init_near=1.0)
    with torch.no_grad():
        c = fresh(torch.randn(1, 16, 4, 5))[0]
    ratios = c[2:] / c[1:-1]  # log-uniform above 1 m
    assert torch.allclose(ratios, torch.full_like(ratios, 80.0 ** (1 / 31)), rtol=1e-4)


def test_focal_helpers() -> None:
    f_net = network_focal(721.5377, 1242, 640)
    assert f_net == pytest.approx(721.5377 * 640 / 1242)
    assert rescale_depth(10.0, 2 * f_net, f_net) == pytest.approx(20.0)
    assert canonical_depth(rescale_depth(7.0, 300.0, 370.0), 300.0, 370.0) == pytest.approx(7.0)
    t = rescale_depth(torch.ones(2), 100.0, 50.0)
    assert torch.equal(t, torch.full((2,), 2.0))
    fx, fy, cx, cy = resize_intrinsics(700.0, 700.0, 620.5, 187.5, (375, 1242), (192, 640))
    assert cx == pytest.approx((620.5 + 0.5) * 640 / 1242 - 0.5)
    assert fy == pytest.approx(700.0 * 192 / 375)
    assert stereo_fb(0.54, 371.8) == pytest.approx(0.54 * 371.8)
    for bad in (lambda: network_focal(0.0, 10, 10), lambda: stereo_fb(-1.0, 100.0),
                lambda: rescale_depth(1.0, float("nan"), 1.0)):
        with pytest.raises(ValueError):
            bad()
