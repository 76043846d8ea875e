"""Fine-tuning a full checkpoint: the network it keeps, what may change (depth range, bins),
what trains, the model card's ``fine_tuned_from``, and that runtime and export follow the new
depth range."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from iid_rdepth_ros.artifacts.files import sha256_file
from iid_rdepth_ros.model import build_model
from iid_rdepth_ros.model.checkpoint import load_checkpoint, save_checkpoint
from iid_rdepth_ros.model.config import ModelConfig
from iid_rdepth_ros.training.config import load_config
from iid_rdepth_ros.training.finetune import apply_trainable, base_checkpoint, load_base
from iid_rdepth_ros.training.train import model_config, train

torch.set_num_threads(1)
H, W = 64, 192
TINY = {"name": "tiny", "input_height": H, "input_width": W, "canonical_focal": 100.0,
        "decoder": {"channels": [16, 16, 32, 32], "n_bins": 16, "bcp_hidden": 32,
                    "upsample_hidden": 16},
        "diffusion": {"width": 16, "unet_channels": [16, 16, 16], "steps": 2,
                      "train_steps": 2},
        "avlfe": {"candidates": 8, "hidden": 16, "match_channels": 8}}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny trained-for-nothing full model (street range 1e-3..80 m) to fine-tune."""
    torch.manual_seed(0)
    cfg = ModelConfig.from_dict({**ModelConfig().to_dict(), **TINY})
    stem = tmp_path_factory.mktemp("base") / "street"
    save_checkpoint(stem, build_model(cfg, variant="full"),
                    {"data": {"train": {"dataset": "synth", "dir": "data/synth/train",
                                        "seed": 1, "frames_used": 64}},
                     "steps": {"stage1": 10, "stage2": 5}})
    return stem


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six mono frames of a near-range scene (0.4-4 m), in the folder layout."""
    import cv2

    root = tmp_path_factory.mktemp("robot")
    (root / "images").mkdir()
    (root / "depth").mkdir()
    rng = np.random.default_rng(3)
    for i in range(6):
        image = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
        depth = np.zeros((H, W), np.uint16)
        depth[::4, ::3] = rng.integers(400, 4000, depth[::4, ::3].shape)  # mm
        cv2.imwrite(str(root / "images" / f"{i:06d}.png"), image)
        cv2.imwrite(str(root / "depth" / f"{i:06d}.png"), depth)
    (root / "intrinsics.yaml").write_text(yaml.safe_dump(
        {"fx": 120.0, "fy": 120.0, "cx": 96.0, "cy": 32.0, "depth_unit": "mm"}))
    (root / "train.txt").write_text("000000\n000001\n000002\n000003\n")
    (root / "val.txt").write_text("000005\n")
    return root


def _cfg(base: Path, folder: Path, out: Path, *extra: str):
    return load_config(overrides=[
        "data.dataset=folder", f"data.root={folder}", "data.train=train", "data.val=val",
        f"stage2.init_from={base}", "stage=2", "stage2.aux_prob=0", "stage2.steps=3",
        "stage2.warmup_steps=0", "batch_size=2", "num_threads=1", "progress=false",
        "val_every=0", "ckpt_every=0", f"out_dir={out}", *extra])


def test_the_network_is_the_checkpoints(base: Path, folder: Path, tmp_path: Path) -> None:
    cfg = _cfg(base, folder, tmp_path, "model.min_depth=0.3", "model.max_depth=10",
               "model.decoder.n_bins=32")
    mcfg = model_config(cfg)
    assert (mcfg.name, mcfg.input_size, mcfg.canonical_focal) == ("tiny", (H, W), 100.0)
    assert (mcfg.min_depth, mcfg.max_depth, mcfg.decoder.n_bins) == (0.3, 10.0, 32)
    assert mcfg.decoder.channels == (16, 16, 32, 32)  # the checkpoint's, not the preset's
    with pytest.raises(ValueError, match=r"decoder\.channels cannot change"):
        model_config(_cfg(base, folder, tmp_path, "model.decoder.channels=[8, 8, 8, 8]"))
    with pytest.raises(ValueError, match="differs from the network of"):
        model_config(_cfg(base, folder, tmp_path, "preset=lite0-96x320"))
    with pytest.raises(ValueError, match="fine-tuned in stage 2 alone: use --stage 2"):
        base_checkpoint(_cfg(base, folder, tmp_path, "stage=both"))
    assert base_checkpoint(_cfg(base, folder, tmp_path, "stage2.init_from=stage1",
                                "stage=both")) is None


def test_new_bins_reinitialise_only_the_layers_they_shape(base: Path, folder: Path,
                                                          tmp_path: Path) -> None:
    cfg = _cfg(base, folder, tmp_path, "model.decoder.n_bins=24", "model.min_depth=0.3",
               "model.max_depth=10")
    model = build_model(model_config(cfg), variant="full")
    record = load_base(model, base_checkpoint(cfg))
    assert sorted(record["reinitialised"]) == ["bcp.mlp.2.bias", "bcp.mlp.2.weight",
                                               "head.logits.1.bias", "head.logits.1.weight"]
    assert record["config_changes"]["decoder.n_bins"] == [16, 24]
    assert record["config_changes"]["max_depth"] == [80.0, 10.0]
    assert record["weights_sha256"] == sha256_file(base.with_suffix(".safetensors"))
    old, _ = load_checkpoint(base)
    mine, theirs = model.decoder_state_dict(), old.decoder_state_dict()
    for key, value in theirs.items():
        if key not in record["reinitialised"]:
            assert torch.equal(mine[key], value), key
    apply_trainable(model, "decoder")
    names = {n for n, _ in model.named_trainable_parameters()}
    assert any(n.startswith("dqi.") for n in names) and any(n.startswith("bcp.") for n in names)
    assert not any(p.requires_grad for p in model.encoder.parameters())
    model.set_stage(2)  # "stage2": DQI and BCP stay frozen
    assert not any(n.startswith(("dqi.", "bcp.")) for n, _ in model.named_trainable_parameters())


def test_short_fine_tune_records_its_origin_and_range(base: Path, folder: Path,
                                                      tmp_path: Path) -> None:
    cfg = _cfg(base, folder, tmp_path / "run", "model.min_depth=0.3", "model.max_depth=10",
               "data.min_depth=0.3", "data.max_depth=10", "stage2.trainable=decoder",
               "stage2.lr=1e-3")
    result = train(cfg, command="iid-rdepth train ... (test)")
    path = Path(result["checkpoints"]["stage2"])
    model, card = load_checkpoint(path)
    assert (card["config"]["min_depth"], card["config"]["max_depth"]) == (0.3, 10.0)
    origin = card["fine_tuned_from"]
    assert origin["checkpoint"] == str(base)
    assert origin["weights_sha256"] == sha256_file(base.with_suffix(".safetensors"))
    assert origin["data"] == {"dataset": "synth", "dir": "data/synth/train", "split": None,
                              "seed": 1, "frames_used": 64}
    assert origin["steps"] == {"stage1": 10, "stage2": 5}
    assert card["steps"] == {"fine_tune": 3, "base": {"stage1": 10, "stage2": 5}}
    assert card["data"]["train"]["dataset"] == "folder"
    assert card["data"]["train"]["frames_used"] == 4 and card["data"]["val"]["frames_used"] == 1
    old, _ = load_checkpoint(base)
    theirs = old.dqi.state_dict()
    assert any(not torch.equal(v, theirs[k]) for k, v in model.dqi.state_dict().items()), \
        "the decoder scope trains DQI too"
    # the bins now span 0.3..10 m (at the canonical focal): so does every prediction
    with torch.no_grad():
        depth = model(torch.rand(1, 3, H, W))
    assert float(depth.min()) >= 0.3 and float(depth.max()) <= 10.0


def test_runtime_and_export_follow_the_checkpoint_range(base: Path, folder: Path,
                                                        tmp_path: Path) -> None:
    """A 0.3-10 m model: the ONNX graph records the range, every runner reports it and, unless
    told otherwise, keeps what the model gives at this camera's focal (range x f/f_c)."""
    from iid_rdepth_ros.artifacts.onnx_meta import get_metadata
    from iid_rdepth_ros.export.onnx_export import export_checkpoint
    from iid_rdepth_ros.export.open_runner import open_runner
    from iid_rdepth_ros.runtime import Intrinsics, RunnerConfig

    cfg = _cfg(base, folder, tmp_path / "run", "model.min_depth=0.3", "model.max_depth=10")
    result = train(cfg)
    ckpt = Path(result["checkpoints"]["stage2"])
    export = export_checkpoint(str(ckpt), tmp_path / "onnx", verify=False)
    meta = get_metadata(export.graphs["mono"])
    assert (meta["min_depth"], meta["max_depth"]) == (0.3, 10.0)
    image = np.random.default_rng(0).integers(0, 255, (H, W, 3), dtype=np.uint8)
    k = Intrinsics(200.0, 200.0, W / 2, H / 2)  # f_net = 200 = 2 x canonical
    for backend, model_path in (("torch", str(ckpt)), ("onnxruntime",
                                                       str(export.graphs["mono"]))):
        config = RunnerConfig(backend=backend, model_path=model_path, input_height=H,
                              input_width=W, device="cpu", num_threads=1)
        with open_runner(config) as runner:
            assert runner.depth_range == (0.3, 10.0)
            assert runner.info["depth_range"] == [0.3, 10.0]
            assert runner.valid_range(200.0) == pytest.approx((0.6, 20.0))
            depth = runner.infer(image, intrinsics=k)
            assert np.isfinite(depth).all()  # nothing the model gives is cut off
            assert float(depth.min()) >= 0.6 and float(depth.max()) <= 20.0
        narrow = RunnerConfig(backend=backend, model_path=model_path, input_height=H,
                              input_width=W, device="cpu", num_threads=1,
                              max_depth=float(np.median(depth)))
        with open_runner(narrow) as runner:
            cut = runner.infer(image, intrinsics=k)
            assert np.isnan(cut).any() and np.nanmax(cut) <= float(np.median(depth))
