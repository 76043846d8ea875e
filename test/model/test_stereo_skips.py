"""AV-LFE's skip enhancement on the geometry-first path (``model.stereo_skips``): it starts as
the model without it, never runs without a right view, changes and learns the stereo output
once trained, and stays out of the depth-loss stages."""

from __future__ import annotations

import copy

import pytest
import torch

from iid_rdepth_ros.model import build_model, get_preset
from iid_rdepth_ros.model.config import StereoConfig
from iid_rdepth_ros.model.stereo_skips import AlignedSkipEnhancer, enhancer_width


def _model(skip_hidden: int) -> torch.nn.Module:
    cfg = copy.deepcopy(get_preset("lite0-96x320"))
    cfg.avlfe.enabled, cfg.stereo.enabled, cfg.stereo.max_disparity = False, True, 32
    cfg.stereo.skip_hidden = skip_hidden
    torch.manual_seed(0)
    return build_model(cfg, variant="full", pretrained_encoder=False).eval()


def _pair() -> tuple[torch.Tensor, torch.Tensor]:
    image = torch.rand(1, 3, 96, 320, generator=torch.Generator().manual_seed(3))
    return image, torch.roll(image, -5, dims=-1)


@pytest.fixture(scope="module")
def models() -> tuple[torch.nn.Module, torch.nn.Module]:
    plain, enhanced = _model(0), _model(8)
    missing, unexpected = enhanced.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith("skips.") for k in missing)
    return plain, enhanced


def test_starts_as_the_model_without_it(models) -> None:
    plain, enhanced = models
    image, aux = _pair()
    with torch.no_grad():
        a, ca = plain.forward_outputs(image, aux, 40.0)
        b, cb = enhanced.forward_outputs(image, aux, 40.0)
    assert torch.equal(a, b) and torch.equal(ca, cb)


def test_without_a_right_view_it_never_runs(models) -> None:
    plain, enhanced = copy.deepcopy(models)
    with torch.no_grad():
        for p in enhanced.skips.parameters():
            p.add_(0.5)
        image, _ = _pair()
        assert torch.equal(enhanced(image), plain(image))


def test_trained_it_changes_the_stereo_output_and_gets_gradients(models) -> None:
    _, enhanced = copy.deepcopy(models)
    image, aux = _pair()
    with torch.no_grad():
        before = enhanced.forward_outputs(image, aux, 40.0)[0]
    for p in enhanced.skips.parameters():
        p.requires_grad_(True)
    depth = enhanced.forward_outputs(image, aux, 40.0)[0]
    depth.log().mean().backward()
    # zero-initialised output layer: its gradient is what starts the training
    grads = [p.grad for p in enhanced.skips.parameters() if p.grad is not None]
    assert grads and max(g.abs().max().item() for g in grads) > 0
    with torch.no_grad():
        for p in enhanced.skips.parameters():
            p.add_(0.05 * torch.randn_like(p))
        after = enhanced.forward_outputs(image, aux, 40.0)[0]
        # the skips the decoder gets move (an untrained decoder hardly responds to them)
        feats = enhanced.encode(image)
        stereo = enhanced.matcher(image, aux, feats[:2], enhanced.encode(aux, levels=2), 40.0)
        skips = enhanced.enhanced_skips(feats, stereo)
    assert len(skips) == 4 and skips[2] is feats[2] and skips[3] is feats[3]
    for level in (0, 1):
        change = (skips[level] - feats[level]).abs().mean() / feats[level].abs().mean()
        assert change > 1e-3, (level, change)
    assert not torch.equal(after, before) and torch.isfinite(after).all()


def test_depth_loss_stages_leave_it_frozen(models) -> None:
    _, enhanced = copy.deepcopy(models)
    for stage in (1, 2):
        enhanced.set_stage(stage)
        assert not any(n.startswith("skips.") for n, _ in enhanced.named_trainable_parameters())


def test_width_and_rules() -> None:
    assert enhancer_width(AlignedSkipEnhancer((24, 40), 12).state_dict()) == 12
    with pytest.raises(ValueError, match="skip_hidden"):
        StereoConfig(enabled=True, skip_hidden=-1).validate()
    with pytest.raises(ValueError, match=">= 1"):
        AlignedSkipEnhancer((24, 40), 0)


def test_training_script_and_assembly(tmp_path) -> None:
    # train_stereo_skips.py on a tiny cache from the shipped default, then the assembly:
    # the candidate carries the trained enhancer and keeps the default's mono output
    import subprocess
    import sys
    from pathlib import Path

    from safetensors.torch import load_file, save_file

    from iid_rdepth_ros.model.checkpoint import load_checkpoint

    root = Path(__file__).resolve().parents[2]
    run = tmp_path / "skips"
    proc = subprocess.run([sys.executable, "scripts/train_stereo_skips.py", "--out", str(run),
                           "--samples", "9", "--steps", "2", "--batch", "2", "--hidden", "8"],
                          cwd=root, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    skips = load_file(str(run / "skips.safetensors"))
    assert enhancer_width(skips) == 8
    assert skips["levels.0.out.weight"].abs().max() > 0  # trained off its zero start
    shipped, _ = load_checkpoint("default")
    matcher = tmp_path / "matcher.safetensors"
    save_file({k[len("matcher."):]: v.contiguous() for k, v in shipped.state_dict().items()
               if k.startswith("matcher.")}, str(matcher))
    proc = subprocess.run([sys.executable, "scripts/assemble_stereo_checkpoint.py", "--mono",
                           "default", "--matcher", str(matcher), "--fusion",
                           str(run / "fusion.safetensors"), "--skips",
                           str(run / "skips.safetensors"), "--out", str(tmp_path / "cand")],
                          cwd=root, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    candidate, card = load_checkpoint(tmp_path / "cand")
    assert candidate.cfg.stereo.skip_hidden == 8 and card["stereo"]["skips"]["sha256"]
    image = torch.rand(1, 3, 96, 320)
    with torch.no_grad():
        assert torch.equal(candidate(image), shipped(image))
