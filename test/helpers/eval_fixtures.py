"""Shared fixtures for the evaluation / demo tests: a tiny data set and an untrained checkpoint."""

from __future__ import annotations

from pathlib import Path

PRESET = "lite0-96x320"


def make_checkpoint(stem: Path, variant: str = "full") -> Path:
    """Save an untrained model; its AV-LFE output layer is perturbed so stereo != mono."""
    import torch

    from iid_rdepth_ros.model import build_model
    from iid_rdepth_ros.model.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = build_model(PRESET, variant=variant)
    if model.avlfe is not None:
        with torch.no_grad():
            for p in model.avlfe.parameters():
                p.add_(0.05 * torch.randn_like(p))
    save_checkpoint(stem, model, {"data": {"note": "untrained, for tests"}})
    return stem


def make_matcher_checkpoint(stem: Path, max_disparity: int = 48, skip_hidden: int = 8) -> Path:
    """Save an untrained geometry-first stereo model (``cfg.stereo``: matcher + fusion + skip
    enhancer, no AV-LFE) with its weights perturbed (matcher, fusion and enhancer included) so
    its outputs vary."""
    import copy

    import torch

    from iid_rdepth_ros.model import build_model, get_preset
    from iid_rdepth_ros.model.checkpoint import save_checkpoint

    torch.manual_seed(0)
    cfg = copy.deepcopy(get_preset(PRESET))
    cfg.avlfe.enabled, cfg.stereo.enabled, cfg.stereo.max_disparity = False, True, max_disparity
    cfg.stereo.skip_hidden = skip_hidden
    model = build_model(cfg, variant="full")
    with torch.no_grad():  # the matcher and fusion are frozen (trained by scripts): perturb
        # them too, so disparity and confidence vary over the image
        extra = [] if model.skips is None else list(model.skips.parameters())
        for param in [*model.trainable_parameters(), *model.matcher.parameters(),
                      *model.fusion.parameters(), *extra]:
            param.add_(0.02 * torch.randn_like(param))
    save_checkpoint(stem, model, {"note": "untrained test checkpoint"})
    return stem


def make_data(root: Path, frames: int = 3, seed: int = 5, height: int = 96,
              width: int = 320) -> Path:
    from iid_rdepth_ros.synth import generate

    generate(root, frames=frames, seed=seed, height=height, width=width, progress=False)
    return root
