"""The learned stereo matcher: shapes, exact pieces, fusion, export of the matcher alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from iid_rdepth_ros.model.stereo_fusion import StereoMonoFusion
from iid_rdepth_ros.model.stereo_matcher import (
    DisparityConv,
    StereoMatcher,
    StereoMatcherConfig,
    blocked_conv,
    full_cost_volume,
    refines_full_resolution,
    s2_layout,
    sample_rows,
    warp_rows,
)


def _inputs(b: int = 1, h: int = 64, w: int = 128):
    g = torch.Generator().manual_seed(0)
    img = torch.rand(b, 3, h, w, generator=g)
    aux = torch.rand(b, 3, h, w, generator=g)
    feats = [[torch.randn(b, 24, h // 4, w // 4, generator=g),
              torch.randn(b, 40, h // 8, w // 8, generator=g)] for _ in range(2)]
    return img, aux, feats[0], feats[1]


def test_shapes_ranges_and_depth_is_fb_over_disparity():
    torch.manual_seed(0)
    m = StereoMatcher(StereoMatcherConfig(max_disparity=32)).eval()
    img, aux, lf, rf = _inputs(2)
    fb = torch.tensor([100.0, 50.0])
    with torch.no_grad():
        out = m(img, aux, lf, rf, fb)
    assert out.disparity.shape == out.confidence.shape == out.depth.shape == (2, 1, 64, 128)
    assert [s.shape[-1] for s in out.stages] == [16, 32, 64]
    assert out.disparity.min() >= 0
    assert out.confidence.min() > 0 and out.confidence.max() < 1
    d = out.disparity.clamp_min(1e-6).maximum(fb.reshape(-1, 1, 1, 1) / m.cfg.max_depth)
    torch.testing.assert_close(out.depth, fb.reshape(-1, 1, 1, 1) / d)
    assert [a.shape for a in out.aligned_aux] == [lf[0].shape, lf[1].shape]
    with torch.no_grad():  # the range is a run-time choice (3D weights shared over candidates)
        assert m(img, aux, lf, rf, fb, max_disparity=64).disparity.shape == (2, 1, 64, 128)
    with pytest.raises(ValueError, match="multiple of 8"):
        m(img, aux, lf, rf, fb, max_disparity=30)


def test_full_resolution_refinement_starts_as_identity():
    torch.manual_seed(0)
    base = StereoMatcher(StereoMatcherConfig(max_disparity=32)).eval()
    fine = StereoMatcher(StereoMatcherConfig(max_disparity=32, refine1=True)).eval()
    missing = fine.load_state_dict(base.state_dict(), strict=False).missing_keys
    assert missing and all(k.split(".")[0] in ("ctx1", "in1", "res1", "out1") for k in missing)
    img, aux, lf, rf = _inputs()
    with torch.no_grad():
        torch.testing.assert_close(fine(img, aux, lf, rf, 50.0).disparity,
                                   base(img, aux, lf, rf, 50.0).disparity)


def test_from_state_dict_and_model_config_carry_the_refinement():
    import copy

    from iid_rdepth_ros.model import build_model, get_preset

    torch.manual_seed(0)
    fine = StereoMatcher(StereoMatcherConfig(max_disparity=32, refine1=True))
    assert refines_full_resolution(fine.state_dict())
    assert not refines_full_resolution(StereoMatcher(StereoMatcherConfig()).state_dict())
    assert StereoMatcher.from_state_dict(fine.state_dict()).cfg.refine1
    cfg = copy.deepcopy(get_preset("lite0-96x320"))
    cfg.avlfe.enabled, cfg.stereo.enabled, cfg.stereo.refine1 = False, True, True
    model = build_model(cfg, variant="full", pretrained_encoder=False)
    assert model.matcher.cfg.refine1 and hasattr(model.matcher, "out1")


def test_training_script_adds_and_trains_only_the_refinement(tmp_path):
    # --init default --refine1 --train-only: the shipped matcher's weights stay, the new
    # full-resolution refinement (zero output at the start) is what trains
    import subprocess
    import sys
    from pathlib import Path

    from safetensors.torch import load_file

    from iid_rdepth_ros.model.checkpoint import load_checkpoint

    root = Path(__file__).resolve().parents[2]
    run = tmp_path / "r"
    proc = subprocess.run(
        [sys.executable, "scripts/train_stereo_matcher.py", "--out", str(run), "--init",
         "default", "--refine1", "--train-only", "ctx1,in1,res1,out1", "--steps", "3",
         "--batch", "2", "--crop", "64x128", "--val-frames", "1", "--val-every", "3",
         "--workers", "0", "--street-frames", "4", "--warmup", "1", "--lr", "1e-2"],
        cwd=root, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    state = load_file(str(run / "matcher.safetensors"))
    shipped = load_checkpoint("default")[0].matcher.state_dict()
    assert refines_full_resolution(state)
    assert all(torch.equal(state[k], v) for k, v in shipped.items())
    assert state["out1.weight"].abs().max() > 0
    bad = subprocess.run(
        [sys.executable, "scripts/train_stereo_matcher.py", "--out", str(tmp_path / "x"),
         "--train-only", "nothing", "--steps", "1", "--workers", "0"],
        cwd=root, capture_output=True, text=True, timeout=600)
    assert bad.returncode != 0 and "names no parameter" in bad.stderr


def test_disparity_conv_is_a_3d_convolution():
    torch.manual_seed(0)
    dc = DisparityConv(4, 6, relu=False)
    conv3d = torch.nn.Conv3d(4, 6, 3, padding=1)
    with torch.no_grad():  # (out, 3*in, ky, kx) with slice-major inputs -> (out, in, kd, ky, kx)
        conv3d.weight.copy_(dc.conv.weight.reshape(6, 3, 4, 3, 3).permute(0, 2, 1, 3, 4))
        conv3d.bias.copy_(dc.conv.bias)
    x = torch.randn(2, 5, 4, 7, 9)  # (B, D, C, h, w)
    ref = conv3d(x.permute(0, 2, 1, 3, 4)).permute(0, 2, 1, 3, 4)
    torch.testing.assert_close(dc(x), ref, atol=1e-5, rtol=1e-5)


def test_disparity_conv_exports_as_one_3d_convolution(tmp_path):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    dc = DisparityConv(4, 6, stride=2).eval()
    x = torch.randn(1, 5, 4, 8, 10)
    path = tmp_path / "dc.onnx"
    torch.onnx.export(dc, (x,), str(path), dynamo=False, opset_version=17)
    graph = onnx.load(str(path)).graph
    weights = {i.name: i for i in graph.initializer}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    assert len(convs) == 1 and not any(n.op_type in ("Concat", "Slice") for n in graph.node)
    assert list(weights[convs[0].input[1]].dims) == [6, 4, 3, 3, 3]  # (out, in, d, y, x)
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {graph.input[0].name: x.numpy()})[0]
    with torch.no_grad():
        np.testing.assert_allclose(got, dc(x).numpy(), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("relu", [True, False])
def test_blocked_conv_exports_padded_to_16_channels(tmp_path, relu):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(43, 16, 3, padding=2, dilation=2)
    layer = torch.nn.Sequential(conv, torch.nn.ReLU()) if relu else conv
    parts = [torch.randn(1, 40, 12, 20), torch.randn(1, 3, 12, 20)]

    class Module(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layer = layer

        def forward(self, a, b):
            return blocked_conv(self.layer, [a, b])

    module = Module().eval()
    with torch.no_grad():
        want = layer(torch.cat(parts, 1))
        assert torch.equal(module(*parts), want)  # torch: the plain convolution
    path = tmp_path / "blocked.onnx"
    torch.onnx.export(module, tuple(parts), str(path), dynamo=False, opset_version=17)
    graph = onnx.load(str(path)).graph
    weights = {i.name: i for i in graph.initializer}
    (node,) = [n for n in graph.node if n.op_type == "Conv"]
    assert list(weights[node.input[1]].dims) == [16, 48, 3, 3]
    # the zero channels are computed, not a constant of the input's size baked into the graph
    assert not any(list(i.dims[-2:]) == [12, 20] for i in graph.initializer)
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {graph.input[0].name: parts[0].numpy(), graph.input[1].name: parts[1].numpy()})
    np.testing.assert_allclose(got[0], want.numpy(), atol=1e-5, rtol=1e-5)


def test_grey_s2_matcher_warm_starts_from_a_feature_s2_state():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    from train_stereo_matcher import load_initial

    torch.manual_seed(0)
    base = StereoMatcher(StereoMatcherConfig(max_disparity=32)).eval()
    grey = StereoMatcher(StereoMatcherConfig(max_disparity=32, cost2="grey", blocks2=1)).eval()
    assert s2_layout(base.state_dict()) == {"cost2": "features", "blocks2": 2}
    assert s2_layout(grey.state_dict()) == {"cost2": "grey", "blocks2": 1}
    load_initial(grey, base.state_dict())
    w = grey.in2g[0].weight
    assert w[:, :5].abs().max() == 0  # the grey costs start at zero
    torch.testing.assert_close(w[:, 5:], base.in2[0].weight[:, 10:])  # the context is kept
    torch.testing.assert_close(grey.res2[0].c1[0].weight, base.res2[0].c1[0].weight)
    again = StereoMatcher.from_state_dict(grey.state_dict(), max_disparity=32)
    assert (again.cfg.cost2, again.cfg.blocks2) == ("grey", 1)
    img, aux, lf, rf = _inputs()
    with torch.no_grad():
        out = grey(img, aux, lf, rf, 50.0)
        assert out.disparity.shape == (1, 1, 64, 128) and torch.isfinite(out.depth).all()
        grey.in2g[0].weight[:, :5].normal_(0, 1.0)  # trained: the grey costs now matter
        assert not torch.allclose(grey(img, aux, lf, rf, 50.0).disparity, out.disparity)
    with pytest.raises(ValueError, match="cost2"):
        StereoMatcherConfig(cost2="census").validate()


def test_cost_volume_peaks_at_the_true_shift():
    left = torch.randn(1, 8, 6, 40)
    right = torch.roll(left, -3, dims=3)  # the right view sees x at x - 3
    vol = full_cost_volume(left, right, 8, groups=2)  # (B, D, G, h, w)
    assert (vol[0, :, :, :, 3:-3].sum(1).argmax(0) == 3).all()


def test_warp_rows_samples_at_x_minus_disparity():
    x = torch.linspace(0, 1, 64).repeat(1, 1, 4, 1)  # a ramp: v(x) = x / 63
    sub = warp_rows(x, torch.full((1, 1, 4, 64), 0.25))[:, :, 0]
    torch.testing.assert_close(sub[..., 1:], x[..., 1:] - 0.25 / 63)
    shifted = warp_rows(x, torch.full((1, 1, 4, 64), 2.0))[:, :, 0]
    torch.testing.assert_close(shifted[..., 2:], x[..., :-2])


def test_fusion_follows_confidence_and_aligns_the_mono_scale():
    fusion = StereoMonoFusion().eval()
    img = torch.rand(1, 3, 32, 64)
    stereo = torch.full((1, 1, 32, 64), 4.0)
    mono = torch.full((1, 1, 32, 64), 40.0)  # right shape, 10x wrong scale
    conf = torch.ones(1, 1, 32, 64)
    conf[..., :16] = 0.0  # no evidence on the left quarter
    with torch.no_grad():
        fused, weight = fusion(stereo, conf, mono, img, torch.full_like(stereo, 20.0))
    assert weight[..., 32:].min() > 0.95 and weight[..., :16].max() < 0.05
    # the mono prior is put on the stereo's scale before it fills the unmatched pixels
    torch.testing.assert_close(fused, stereo, rtol=0.01, atol=0.0)


@pytest.mark.parametrize("cost2", ["features", "grey"])
def test_export_onnx_opset17_tensorrt_parsable(tmp_path, cost2):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from iid_rdepth_ros.export.trt_compat import check_onnx

    class Graph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.m = StereoMatcher(StereoMatcherConfig(max_disparity=32, cost2=cost2))
            for p in self.m.parameters():  # heads start at zero: give every stage a say
                p.data.add_(0.05 * torch.randn_like(p))

        def forward(self, image, aux, l0, l1, r0, r1, fb):
            out = self.m(image, aux, [l0, l1], [r0, r1], fb)
            return out.disparity, out.confidence, out.depth

    torch.manual_seed(0)
    g = Graph().eval()
    img, aux, lf, rf = _inputs()
    args = (img, aux, *lf, *rf, torch.tensor([80.0]))
    names = ["image", "aux", "l0", "l1", "r0", "r1", "fb"]
    path = tmp_path / "matcher.onnx"
    torch.onnx.export(g, args, str(path), dynamo=False, opset_version=17, input_names=names)
    onnx.checker.check_model(onnx.load(str(path)))
    report = check_onnx(path)
    assert report.ok, report.summary()
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {n: t.numpy() for n, t in zip(names, args, strict=True)})
    with torch.no_grad():
        ref = g(*args)
    np.testing.assert_allclose(got[0], ref[0].numpy(), atol=1e-3)


def test_local_grid_matches_integer_shift():
    right = torch.randn(1, 3, 5, 20)
    out = warp_rows(right, torch.zeros(1, 1, 5, 20), torch.tensor([-1.0, 0.0, 1.0]))
    assert out.shape == (1, 3, 3, 5, 20)
    torch.testing.assert_close(out[:, :, 1], right)
    torch.testing.assert_close(out[:, :, 2, :, 1:], right[..., :-1])  # x - 1
    assert F.mse_loss(out[:, :, 0, :, :-1], right[..., 1:]) < 1e-10  # x + 1


def test_sample_rows_is_warp_rows_for_one_channel():
    g = torch.Generator().manual_seed(4)
    image = torch.randn(2, 1, 6, 40, generator=g)
    disparity = torch.rand(2, 1, 6, 40, generator=g) * 50 - 6  # some outside on both sides
    offsets = torch.tensor([-1.0, -0.5, 0.0, 0.5, 1.0])
    got = sample_rows(image, disparity, offsets)
    torch.testing.assert_close(got, warp_rows(image, disparity, offsets)[:, 0], atol=1e-5,
                               rtol=0)
    far = sample_rows(image, torch.full_like(disparity, 100.0), offsets)
    assert far.abs().max() == 0  # entirely outside the right image


def test_image_branch_starts_as_the_matcher_without_it_and_then_acts():
    torch.manual_seed(0)
    base = StereoMatcher(StereoMatcherConfig(max_disparity=32)).eval()
    wide = StereoMatcher(StereoMatcherConfig(max_disparity=32, image8=8)).eval()
    state = base.state_dict()
    weight = wide.feat8[0][0].weight.detach().clone()
    assert weight[:, 64:].abs().max() == 0  # the branch's inputs start at zero
    weight[:, :64] = state["feat8.0.0.weight"]
    missing = wide.load_state_dict({**state, "feat8.0.0.weight": weight},
                                   strict=False).missing_keys
    assert missing and all(k.startswith("img8.") for k in missing)
    img, aux, lf, rf = _inputs()
    with torch.no_grad():
        torch.testing.assert_close(wide(img, aux, lf, rf, 50.0).disparity,
                                   base(img, aux, lf, rf, 50.0).disparity)
        wide.feat8[0][0].weight[:, 64:].normal_(0, 0.5)  # trained: the image now matters
        assert not torch.allclose(wide(img, aux, lf, rf, 50.0).disparity,
                                  base(img, aux, lf, rf, 50.0).disparity)
