"""The fusion's locally scaled mono candidate (``StereoMonoFusion(local=...)``): the local
scale follows confident stereo region by region, falls back to the image's scale without
evidence, and a fusion without it keeps its old parameters and behaviour."""

from __future__ import annotations

import pytest
import torch

from iid_rdepth_ros.model.config import StereoConfig
from iid_rdepth_ros.model.stereo_fusion import StereoMonoFusion


def test_local_scale_follows_each_region_where_the_global_one_cannot():
    fusion = StereoMonoFusion(local=3).eval()
    h, w = 64, 256
    stereo = torch.full((1, 1, h, w), 10.0)
    mono = torch.full((1, 1, h, w), 10.0)
    mono[..., : w // 2] = 5.0  # left half half as far: one scale per image cannot fix both
    conf = torch.ones(1, 1, h, w)
    log_ratio = torch.log(stereo) - torch.log(mono)
    global_scale = fusion.align_scale(stereo, conf, mono)
    correction, evidence = fusion.local_scale(log_ratio - global_scale, conf)
    local = mono * torch.exp(global_scale + correction)
    # away from the step (the window is 3 x 4 = 12 input px wide, bilinear up adds a few)
    for cols in (slice(0, w // 2 - 16), slice(w // 2 + 16, w)):
        err = (local[..., cols] / stereo[..., cols] - 1).abs().max().item()
        assert err < 0.05 * 0.7, err  # shrunk by evidence / (evidence + 0.05) only
        assert evidence[..., cols].min() > 0.95
    glob = mono * torch.exp(global_scale)
    assert (glob / stereo - 1).abs().max() > 0.3  # the global scale alone is 40 % off


def test_local_scale_without_confident_stereo_is_the_global_one():
    fusion = StereoMonoFusion(local=5).eval()
    ratio = torch.randn(1, 1, 32, 96)
    conf = torch.full((1, 1, 32, 96), 0.4)  # nothing counts below 0.5
    correction, evidence = fusion.local_scale(ratio, conf)
    assert correction.abs().max() == 0 and evidence.abs().max() == 0


def test_fused_depth_prefers_local_scale_where_trained_to():
    # with the share logit forced high, unmatched pixels take the locally scaled mono
    fusion = StereoMonoFusion(local=3).eval()
    with torch.no_grad():
        fusion.net[-1].bias.copy_(torch.tensor([0.0, 20.0]))
    h, w = 32, 128
    stereo = torch.full((1, 1, h, w), 8.0)
    mono = torch.full((1, 1, h, w), 8.0)
    mono[..., w // 2:] = 2.0
    conf = torch.ones(1, 1, h, w)
    conf[..., 40:44] = 0.0  # a narrow unmatched stripe inside the left region
    conf[..., 100:104] = 0.0  # and one inside the right region
    fused, weight = fusion(stereo, conf, mono, torch.rand(1, 3, h, w), torch.full_like(mono, 9.0))
    assert weight[..., 40:44].max() < 0.05
    for cols in (slice(40, 44), slice(100, 104)):
        assert (fused[..., cols] / 8.0 - 1).abs().max() < 0.05


def test_shapes_and_parameters():
    old, new = StereoMonoFusion(), StereoMonoFusion(local=3)
    assert old.net[0][0].in_channels == 8 and old.net[-1].out_channels == 1
    assert new.net[0][0].in_channels == 11 and new.net[-1].out_channels == 2
    # an old fusion's state does not load into a local one (and vice versa): no silent mix
    with pytest.raises(RuntimeError):
        new.load_state_dict(old.state_dict())
    with pytest.raises(ValueError, match="odd"):
        StereoMonoFusion(local=4)
    with pytest.raises(ValueError, match="fusion_local"):
        StereoConfig(enabled=True, fusion_local=2).validate()


def test_local_fusion_exports_tensorrt_parsable_and_matches_onnxruntime(tmp_path):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    import numpy as np

    from iid_rdepth_ros.export.trt_compat import check_onnx

    torch.manual_seed(0)
    fusion = StereoMonoFusion(local=3).eval()
    with torch.no_grad():
        for p in fusion.parameters():
            p.add_(0.05 * torch.randn_like(p))
    g = torch.Generator().manual_seed(2)
    h, w = 64, 192
    args = (torch.rand(1, 1, h, w, generator=g) * 20 + 1, torch.rand(1, 1, h, w, generator=g),
            torch.rand(1, 1, h, w, generator=g) * 20 + 1, torch.rand(1, 3, h, w, generator=g),
            torch.rand(1, 1, h, w, generator=g) * 30)
    names = ["stereo", "confidence", "mono", "image", "disparity"]
    path = tmp_path / "fusion.onnx"
    torch.onnx.export(fusion, args, str(path), dynamo=False, opset_version=17,
                      input_names=names)
    onnx.checker.check_model(onnx.load(str(path)))
    report = check_onnx(path)
    assert report.ok, report.summary()
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {n: t.numpy() for n, t in zip(names, args, strict=True)})
    with torch.no_grad():
        ref = fusion(*args)
    np.testing.assert_allclose(got[0], ref[0].numpy(), rtol=1e-4)


def test_model_config_builds_the_local_fusion():
    import copy

    from iid_rdepth_ros.model import build_model, get_preset

    cfg = copy.deepcopy(get_preset("lite0-96x320"))
    cfg.avlfe.enabled, cfg.stereo.enabled, cfg.stereo.max_disparity = False, True, 32
    cfg.stereo.fusion_local = 3
    model = build_model(cfg, variant="full", pretrained_encoder=False).eval()
    assert model.fusion.local == 3
    image = torch.rand(1, 3, 96, 320)
    with torch.no_grad():
        depth, conf = model.forward_outputs(image, torch.roll(image, -4, -1), 50.0)
        mono = model(image)
    assert torch.isfinite(depth).all() and conf is not None
    with torch.no_grad():  # without the right view the model is its mono decoder
        torch.testing.assert_close(mono, model.decode(model.encode(image)), rtol=0, atol=0)


def test_model_config_builds_the_light_matcher_and_fusion_from_their_states():
    # stereo.cost2 / blocks2 / fusion_blocks build what the states hold; the helpers read them
    import copy

    from iid_rdepth_ros.model import build_model, get_preset
    from iid_rdepth_ros.model.stereo_fusion import fusion_blocks
    from iid_rdepth_ros.model.stereo_matcher import s2_layout

    assert fusion_blocks(StereoMonoFusion().state_dict()) == 2
    light = StereoMonoFusion(blocks=0)
    assert fusion_blocks(light.state_dict()) == 0 and len(light.net) == 2
    with pytest.raises(RuntimeError):  # a two-block state does not load into it
        light.load_state_dict(StereoMonoFusion().state_dict())
    with pytest.raises(ValueError, match="blocks"):
        StereoMonoFusion(blocks=3)
    cfg = copy.deepcopy(get_preset("lite0-96x320"))
    cfg.avlfe.enabled, cfg.stereo.enabled, cfg.stereo.max_disparity = False, True, 32
    cfg.stereo.cost2, cfg.stereo.blocks2, cfg.stereo.fusion_blocks = "grey", 1, 0
    cfg.validate()
    model = build_model(cfg, variant="full", pretrained_encoder=False).eval()
    assert s2_layout(model.matcher.state_dict()) == {"cost2": "grey", "blocks2": 1}
    assert fusion_blocks(model.fusion.state_dict()) == 0
    image = torch.rand(1, 3, 96, 320)
    with torch.no_grad():
        depth, conf = model.forward_outputs(image, torch.roll(image, -4, -1), 50.0)
    assert torch.isfinite(depth).all() and conf is not None
    for bad in ({"cost2": "census"}, {"blocks2": 0}, {"fusion_blocks": 3}):
        with pytest.raises(ValueError, match="stereo"):
            StereoConfig(enabled=True, **bad).validate()
