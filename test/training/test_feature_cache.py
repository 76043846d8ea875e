"""Feature cache: cached features reproduce the live encoder (float16 tolerance), on disk too."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from iid_rdepth_ros.datasets.frames import DepthFrames, collate
from iid_rdepth_ros.model import build_model, get_preset
from iid_rdepth_ros.model.config import ModelConfig
from iid_rdepth_ros.synth import generate
from iid_rdepth_ros.training.feature_cache import FeatureCache

H, W = 64, 192


def _tiny_config() -> ModelConfig:
    tree = get_preset("lite0-96x320").to_dict()
    tree.update(input_height=H, input_width=W, canonical_focal=721.5377 * W / 1242)
    tree["decoder"].update(channels=[16, 16, 32, 32], n_bins=16, bcp_hidden=32,
                           upsample_hidden=16)
    tree["diffusion"].update(width=16, unet_channels=[16, 16, 16], steps=2, train_steps=2)
    tree["avlfe"].update(candidates=8, hidden=16, match_channels=8)
    return ModelConfig.from_dict(tree)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cache") / "synth"
    generate(root, 6, seed=5, height=H, width=W, sequence_length=3, progress=False)
    return root


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(_tiny_config(), variant="full").eval()


def test_decode_from_cache_matches_decode_from_image(data: Path, model: torch.nn.Module) -> None:
    torch.set_num_threads(1)
    frames = DepthFrames.from_dir(data, (H, W))
    cache = FeatureCache(frames, model, mode="memory", fields=("main", "aux", "lidar"), chunk=4)
    assert cache.nbytes > 0 and all(a.dtype == np.float16 for k, a in cache.arrays.items()
                                    if k.startswith(("main", "aux")))
    idx = [4, 1, 2]
    batch = collate([frames[i] for i in idx])
    fb = model.cfg.canonical_focal * batch["baseline"]
    with torch.no_grad():
        feats = model.encode(batch["image"])
        aux = model.encode(batch["aux"], levels=2)
        live = model.decode(feats, aux, fb)
        b = cache.batch(idx, aux=True)
        cached = model.decode(b["main"], b["aux"], canonical_fb(model, b))
    for f, c in zip(feats, b["main"], strict=True):
        assert f.shape == c.shape
        assert torch.allclose(f, c, rtol=2e-3, atol=2e-3 * float(f.abs().max()))
    rel = ((live - cached).abs() / live.abs().clamp_min(1e-3)).max().item()
    assert rel < 1e-2, rel
    assert torch.equal(b["lidar"], batch["lidar"])  # metres*256 PNG data is stored exactly
    assert torch.allclose(b["fx"], batch["fx"])


def canonical_fb(model: torch.nn.Module, b: dict) -> torch.Tensor:
    return model.cfg.canonical_focal * b["baseline"]


def test_disk_cache_is_reused_and_keyed(data: Path, model: torch.nn.Module,
                                        tmp_path: Path) -> None:
    frames = DepthFrames.from_dir(data, (H, W), aux=False)
    first = FeatureCache(frames, model, mode="disk", root=tmp_path, fields=("main", "depth"))
    assert first.path is not None and (first.path / "info.json").is_file()
    stamp = (first.path / "main0.npy").stat().st_mtime_ns
    again = FeatureCache(frames, model, mode="disk", root=tmp_path, fields=("main", "depth"))
    assert again.path == first.path
    assert (again.path / "main0.npy").stat().st_mtime_ns == stamp  # reused, not rebuilt
    mem = FeatureCache(frames, model, mode="memory", fields=("main", "depth"))
    a, m = again.batch([0, 5]), mem.batch([0, 5])
    assert all(torch.equal(x, y) for x, y in zip(a["main"], m["main"], strict=True))
    assert torch.equal(a["depth"], m["depth"])
    subset = DepthFrames.from_dir(data, (H, W), aux=False, limit=3)
    other = FeatureCache(subset, model, mode="disk", root=tmp_path, fields=("main", "depth"))
    assert other.key != first.key and len(other) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first.key, other.key])


def test_off_mode_encodes_live_and_errors(data: Path, model: torch.nn.Module) -> None:
    frames = DepthFrames.from_dir(data, (H, W), aux=False)
    live = FeatureCache(frames, model, mode="off", fields=("main", "lidar"))
    b = live.batch([3])
    assert [t.shape[1] for t in b["main"]] == list(model.encoder.channels)
    with pytest.raises(ValueError, match="auxiliary"):
        live.batch([0], aux=True)
    with pytest.raises(ValueError, match="aux=True"):
        FeatureCache(frames, model, mode="memory", fields=("main", "aux"))
    with pytest.raises(ValueError, match="mode"):
        FeatureCache(frames, model, mode="gpu")


def test_sgbm_hint_field_is_metric_depth_where_sgbm_matched(data: Path,
                                                            model: torch.nn.Module) -> None:
    frames = DepthFrames.from_dir(data, (H, W))
    cache = FeatureCache(frames, model, mode="memory", fields=("main", "aux", "lidar", "hint"))
    live = FeatureCache(frames, model, mode="off", fields=("main", "aux", "lidar", "hint"))
    with pytest.raises(ValueError, match="'hint' needs frames opened with aux=True"):
        FeatureCache(DepthFrames.from_dir(data, (H, W), aux=False), model, fields=("hint",))
    idx = [0, 3, 5]
    hint = cache.batch(idx)["hint"]
    # cached (uint16, metres * 256) and computed on the fly agree to the encoding's rounding
    assert torch.allclose(hint, live.batch(idx)["hint"], atol=1 / 256)
    depth = torch.stack([frames[i]["depth"] for i in idx])
    assert hint.shape == depth.shape
    matched = (hint > 0) & (depth > 0) & (depth <= 80)
    coverage = float(matched.sum()) / float(((depth > 0) & (depth <= 80)).sum())
    rel = ((hint - depth).abs() / depth)[matched]
    print(f"SGBM hints: coverage {coverage:.2f}, median relative error {float(rel.median()):.3f}")
    assert coverage > 0.4 and float(rel.median()) < 0.1
