"""AV-LFE: exact identity without an auxiliary view, alignment on a known shift."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from iid_rdepth_ros.model import build_model, get_preset
from iid_rdepth_ros.model.avlfe import (
    AVLFE,
    AuxViewEnhancer,
    StereoPrior,
    candidate_inverse_depths,
)
from iid_rdepth_ros.model.config import AVLFEConfig
from iid_rdepth_ros.model.head import BinHead


def _randomise(module: torch.nn.Module, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g))


def _shifted(main: torch.Tensor, k: int) -> torch.Tensor:
    """aux(x) = main(x + k): what a right camera sees for disparity k (fresh noise at the edge)."""
    aux = torch.randn_like(main)
    aux[..., : main.shape[-1] - k] = main[..., k:]
    return aux


def test_module_identity_without_aux() -> None:
    enh = AuxViewEnhancer(24, 4, AVLFEConfig(), far_depth=80.0)
    _randomise(enh)
    feat = torch.randn(2, 24, 12, 40)
    assert enh(feat) is feat
    both = AVLFE((24, 40, 112, 320), AVLFEConfig(), 80.0)
    feats = [torch.randn(1, 24, 12, 40), torch.randn(1, 40, 6, 20)]
    out, prior = both(feats, None)
    assert prior is None
    assert all(a is b for a, b in zip(out, feats, strict=True))
    # with an aux view and non-zero weights the features do change
    assert not torch.equal(enh(feat, torch.randn_like(feat), fb=100.0), feat)


def test_new_module_is_identity_even_with_aux() -> None:
    enh = AuxViewEnhancer(24, 4, AVLFEConfig(), far_depth=80.0)
    feat = torch.randn(1, 24, 12, 40)
    assert torch.equal(enh(feat, torch.randn_like(feat), fb=100.0), feat)


@pytest.mark.parametrize("stride,k", [(4, 6), (8, 3)])
def test_alignment_recovers_known_shift(stride: int, k: int) -> None:
    torch.manual_seed(0)
    cfg = AVLFEConfig()
    enh = AuxViewEnhancer(24, stride, cfg, far_depth=80.0)
    main = torch.randn(1, 24, 24, 80)
    aux = _shifted(main, k)
    j = 12  # make candidate j's disparity equal to k pixels of the level
    fb = k * stride / float(enh.inverse_depths[j])
    with torch.no_grad():
        al = enh.align(main, aux, fb)
    inner = (slice(None), slice(None), slice(2, -2), slice(k + 2, -2))
    disp = al.disparity[inner]
    inv = enh.inverse_depths
    gap = min(float(inv[j + 1] - inv[j]), float(inv[j] - inv[j - 1]))  # around candidate j
    spacing = fb * gap / stride
    err = (disp - k).abs()
    # (untrained matching: a few pixels see spurious similar candidates elsewhere)
    assert float((err < 0.5 * spacing).float().mean()) > 0.9  # nearer to k than to others
    assert float(err.median()) < 0.1 * spacing and float(err.mean()) < 0.05
    assert float(al.confidence[inner].median()) > 0.5
    # the normalised inverse depth reports the candidate's inverse depth
    expected = float(enh.inverse_depths[j]) * cfg.near_depth
    assert float(al.inverse_depth[inner].sub(expected).abs().median()) < 0.1 * gap * cfg.near_depth
    # and the stereo log depth is the candidate's
    assert float(al.log_depth[inner].add(torch.log(inv[j])).abs().median()) < 0.02
    # warping with the found disparity lines the auxiliary features up with the main ones
    warped, ref = al.warped[inner].flatten(), main[inner].flatten()
    assert torch.corrcoef(torch.stack([warped, ref]))[0, 1] > 0.95
    # and with the exact disparity the warp is exact (sign and pixel-centre convention)
    exact = enh.warp(aux, torch.full_like(al.disparity, float(k)))
    assert torch.allclose(exact[inner], main[inner], atol=1e-5)


def test_alignment_on_real_encoder_features() -> None:
    """A 16-pixel shift of a real image is found at stride 4 (4 pixels) with the real encoder."""
    skimage_data = pytest.importorskip("skimage.data")
    import cv2

    torch.manual_seed(0)
    model = build_model(get_preset("lite0-96x320"), variant="full")
    rgb = cv2.resize(skimage_data.astronaut(), (352, 96), interpolation=cv2.INTER_AREA)
    image = torch.from_numpy(rgb[:, :320].copy()).permute(2, 0, 1)[None].float() / 255
    aux = torch.from_numpy(rgb[:, 16:336].copy()).permute(2, 0, 1)[None].float() / 255
    enh = model.avlfe.enhancers["0"]
    j = 16
    fb = 4 * 4 / float(enh.inverse_depths[j])
    with torch.no_grad():
        f = model.encode(image, levels=1)[0]
        a = model.encode(aux, levels=1)[0]
        disp = enh.align(f, a, fb).disparity[0, 0, 3:-3, 8:-3].numpy()
    assert abs(float(np.median(disp)) - 4.0) < 0.25
    assert float(np.mean(np.abs(disp - 4.0) < 0.5)) > 0.8


def test_model_decode_mono_path_is_exactly_without_avlfe() -> None:
    torch.manual_seed(0)
    model = build_model(get_preset("lite0-96x320"), variant="full").eval()
    _randomise(model.avlfe)
    no_avlfe = copy.deepcopy(model)
    no_avlfe.avlfe = None
    image, aux = torch.rand(1, 3, 96, 320), torch.rand(1, 3, 96, 320)
    with torch.no_grad():
        feats = model.encode(image)
        aux_feats = model.encode(aux, levels=2)
        mono = model.decode(feats)
        assert torch.equal(mono, no_avlfe.decode(feats))
        assert torch.equal(mono, model(image))
        stereo = model.decode(feats, aux_feats, fb=torch.tensor([200.0]))
    assert not torch.equal(mono, stereo)


def test_bad_stereo_inputs() -> None:
    model = build_model(get_preset("lite0-96x320"), variant="full").eval()
    image = torch.rand(2, 3, 96, 320)
    with torch.no_grad():
        with pytest.raises(ValueError, match="fb"):
            model(image, aux=image)
        with pytest.raises(ValueError, match="aux"):
            model(image, aux=torch.rand(2, 3, 64, 320), fb=100.0)
        with pytest.raises(ValueError, match="fb"):
            model(image, aux=image, fb=torch.tensor([1.0, 2.0, 3.0]))


def test_candidate_spacing() -> None:
    log_cfg, inv_cfg = AVLFEConfig(candidates=5), AVLFEConfig(candidates=5,
                                                               candidate_spacing="inverse")
    log_inv = candidate_inverse_depths(log_cfg, 80.0)
    inv_inv = candidate_inverse_depths(inv_cfg, 80.0)
    for values in (log_inv, inv_inv):
        assert float(values[0]) == pytest.approx(1 / 80)
        assert float(values[-1]) == pytest.approx(0.5)
        assert (values.diff() > 0).all()
    ratios = log_inv[1:] / log_inv[:-1]  # equal depth ratios
    assert torch.allclose(ratios, torch.full_like(ratios, 40 ** 0.25))
    steps = inv_inv.diff()  # equal inverse-depth steps
    assert torch.allclose(steps, torch.full_like(steps, (0.5 - 1 / 80) / 4))


def test_stereo_prior_starts_silent_then_pulls_depth_to_stereo() -> None:
    torch.manual_seed(0)
    model = build_model(get_preset("lite0-96x320"), variant="full").eval()
    enh = model.avlfe.enhancers["0"]
    assert enh.prior is not None and model.avlfe.enhancers["1"].prior is None
    image = torch.rand(1, 3, 96, 320)
    aux = torch.roll(image, -8, dims=-1)
    fb = torch.tensor([150.0])
    with torch.no_grad():
        feats, aux_feats = model.encode(image), model.encode(aux, levels=2)
        mono = model.decode(feats)
        (_, _), prior = model.avlfe(feats[:2], aux_feats, fb)
        assert prior is not None and float(prior.weight.abs().max()) == 0.0
        assert torch.equal(model.decode(feats, aux_feats, fb), mono)
        enh.prior_weight.fill_(0.5)
        stereo = model.decode(feats, aux_feats, fb)
    stereo_depth = torch.nn.functional.interpolate(prior.log_depth.exp(), size=(96, 320))
    # with a strong prior the output moves towards the stereo depth (2 px shift: fb / 2)
    assert ((stereo.log() - stereo_depth.log()).abs().mean()
            < (mono.log() - stereo_depth.log()).abs().mean())
    assert float((prior.sigma - get_preset().avlfe.prior_sigma).abs().max()) < 1e-6


def test_head_prior_is_a_cauchy_product() -> None:
    head = BinHead(4, 8)
    centres = torch.exp(torch.linspace(0.0, 4.0, 8))[None]
    x = torch.randn(1, 4, 3, 5)
    mu = torch.full((1, 1, 3, 5), float(centres[0, 4].log()))  # on a bin centre
    sigma = torch.full_like(mu, 0.1)
    with torch.no_grad():
        free = head(x, centres)
        zero = head(x, centres, StereoPrior(mu, sigma, torch.zeros_like(mu)))
        strong = head(x, centres, StereoPrior(mu, sigma, torch.full_like(mu, 50.0)))
        logits = head.logits(x) - 0.7 * torch.log1p(((centres.log()[:, :, None, None] - mu)
                                                      / sigma) ** 2)
        expected = (torch.softmax(logits, 1) * centres[:, :, None, None]).sum(1, keepdim=True)
        half = head(x, centres, StereoPrior(mu, sigma, torch.full_like(mu, 0.7)))
    assert torch.equal(zero, free)
    assert torch.allclose(half, expected, atol=1e-5)
    assert torch.allclose(strong, torch.full_like(strong, float(centres[0, 4])), rtol=1e-3)


def test_decode_with_stereo_exposes_avlfe_depth_with_a_gradient_to_matching() -> None:
    torch.manual_seed(0)
    model = build_model(get_preset("lite0-96x320"), variant="full")
    image = torch.rand(1, 3, 96, 320)
    fb = torch.tensor([150.0])
    feats, aux_feats = model.encode(image), model.encode(torch.roll(image, -8, -1), levels=2)
    depth, none = model.decode_with_stereo(feats)
    assert none is None and torch.equal(depth, model.decode(feats))
    depth, log_depth = model.decode_with_stereo(feats, aux_feats, fb)
    assert torch.equal(depth, model.decode(feats, aux_feats, fb))
    assert log_depth is not None and log_depth.shape == (1, 1, 24, 80)  # level 0, stride 4
    # a new module: the depth path gives the matching no gradient (zero-initialised fusion
    # and prior weight); a loss on the stereo depth itself does
    match = model.avlfe.enhancers["0"].match.weight
    depth.mean().backward(retain_graph=True)
    assert match.grad is None or float(match.grad.abs().max()) == 0.0
    log_depth.mean().backward()
    assert float(match.grad.abs().max()) > 0.0
