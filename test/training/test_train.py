"""End-to-end training through ``train()`` on tiny synth-street data and a tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from iid_rdepth_ros.cli.main import main
from iid_rdepth_ros.model import build_model
from iid_rdepth_ros.model.checkpoint import load_checkpoint
from iid_rdepth_ros.synth import generate
from iid_rdepth_ros.training.config import load_config
from iid_rdepth_ros.training.train import batch_indices, model_config, train, uses_aux

H, W = 64, 192
TINY = [
    "preset=lite0-96x320", f"model.input_height={H}", f"model.input_width={W}",
    f"model.canonical_focal={721.5377 * W / 1242}",
    "model.decoder.channels=[16, 16, 32, 32]", "model.decoder.n_bins=16",
    "model.decoder.bcp_hidden=32", "model.decoder.upsample_hidden=16",
    "model.diffusion.width=16", "model.diffusion.unet_channels=[16, 16, 16]",
    "model.diffusion.steps=2", "model.diffusion.train_steps=2",
    "model.avlfe.candidates=8", "model.avlfe.hidden=16", "model.avlfe.match_channels=8",
    "batch_size=4", "num_threads=1", "progress=false", "val_every=0", "ckpt_every=0",
]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("trainloop")
    generate(root / "train", 12, seed=11, height=H, width=W, sequence_length=4, progress=False)
    generate(root / "val", 3, seed=12, height=H, width=W, sequence_length=3, progress=False)
    return root / "train", root / "val"


def _cfg(data: tuple[Path, Path], out: Path, *extra: str):
    return load_config(overrides=[*TINY, f"data.train={data[0]}", f"data.val={data[1]}",
                                  f"out_dir={out}", *extra])


def test_stage1_loss_falls(data: tuple[Path, Path], tmp_path: Path) -> None:
    cfg = _cfg(data, tmp_path / "run", "stage=1", "stage1.steps=36", "stage1.lr=2e-3",
               "stage1.schedule=constant", "stage1.warmup_steps=0", "data.val=null")
    losses = train(cfg)["stages"][1]["losses"]
    assert len(losses) == 36 and all(np.isfinite(losses))
    first, last = np.mean(losses[:6]), np.mean(losses[-6:])
    print(f"loss first-6 mean {first:.3f}, last-6 mean {last:.3f}")
    assert last < 0.75 * first, (first, last)


def test_encoder_frozen_end_to_end(data: tuple[Path, Path], tmp_path: Path) -> None:
    # cache off: the encoder runs inside every training step of both stages
    cfg = _cfg(data, tmp_path / "run", "stage=both", "stage1.steps=3", "stage2.steps=4",
               "cache.mode=off", "stage1.warmup_steps=0", "stage2.warmup_steps=0",
               "stage1.lr=1e-2", "stage2.lr=1e-2")
    result = train(cfg)
    reference = build_model(model_config(cfg), variant="full").encoder.state_dict()
    for stage in (1, 2):
        model = result["stages"][stage]["model"]
        enc = model.encoder
        assert not enc.training
        assert all(not p.requires_grad and p.grad is None for p in enc.parameters())
        for k, v in enc.state_dict().items():  # weights and BatchNorm statistics
            assert torch.equal(v, reference[k]), k
        trainable = {id(p) for p in model.trainable_parameters()}
        assert trainable and not trainable & {id(p) for p in enc.parameters()}
        assert any(p.grad is not None for p in model.trainable_parameters())
    # stage 2 really trained: some of its parameters moved away from the stage-1 weights
    s1_state = load_checkpoint(result["checkpoints"]["stage1"])[0].decoder_state_dict()
    s2 = result["stages"][2]["model"]
    moved = [n for n, p in s2.named_trainable_parameters()
             if n in s1_state and not torch.equal(p.detach(), s1_state[n])]
    assert moved


def test_stereo_loss_trains_avlfe_matching(data: tuple[Path, Path], tmp_path: Path) -> None:
    # same seed and batches; only stage2.stereo_loss_weight differs
    def match_after(weight: float, steps: int = 3) -> torch.Tensor:
        cfg = _cfg(data, tmp_path / f"w{weight}-{steps}", "stage=both", "stage1.steps=2",
                   f"stage2.steps={steps}", "stage2.aux_prob=1", "stage2.warmup_steps=0",
                   "stage1.warmup_steps=0", "stage2.lr=1e-3", "stage2.weight_decay=0",
                   "data.val=null", f"stage2.stereo_loss_weight={weight}")
        model = train(cfg)["stages"][2]["model"]
        return model.avlfe.enhancers["0"].match.weight.detach().clone()

    start = match_after(0.0, steps=0)
    with_loss, without = match_after(2.0), match_after(0.0)
    # without it the first step gives the matching no gradient (zero-initialised fusion and
    # prior weight), so it moves less than with the direct stereo supervision
    moved_with = float((with_loss - start).abs().max())
    moved_without = float((without - start).abs().max())
    print(f"match weight moved {moved_with:.2e} with the stereo loss, {moved_without:.2e} without")
    assert moved_with > moved_without


def test_sgbm_hints_add_a_logged_loss_term(data: tuple[Path, Path], tmp_path: Path) -> None:
    # mono steps only: the stereo pair reaches training only through the SGBM hints
    def run(weight: float) -> tuple[torch.Tensor, Path]:
        out = tmp_path / f"h{weight}"
        cfg = _cfg(data, out, "stage=both", "stage1.steps=2", "stage2.steps=3",
                   "stage2.aux_prob=0", "stage2.warmup_steps=0", "stage1.warmup_steps=0",
                   "stage2.lr=1e-3", "data.val=null", "log_every=1",
                   f"stage2.hint_weight={weight}")
        model = train(cfg)["stages"][2]["model"]
        return torch.cat([p.detach().flatten() for p in model.head.parameters()]), out

    with_hints, out = run(1.0)
    without, _ = run(0.0)
    assert not torch.allclose(with_hints, without, atol=1e-7)
    logged = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    terms = [r["hint_loss"] for r in logged if r.get("stage") == 2 and "hint_loss" in r]
    assert len(terms) == 3 and all(0 < t < 5 for t in terms), terms


def test_resume_matches_uninterrupted_run(data: tuple[Path, Path], tmp_path: Path) -> None:
    extra = ["stage=both", "stage1.steps=4", "stage2.steps=4", "ckpt_every=2", "val_every=2",
             "stage1.warmup_steps=1", "stage2.warmup_steps=1", "cache.mode=disk",
             f"cache.dir={tmp_path / 'cache'}", "data.val_frames=2"]
    full = train(_cfg(data, tmp_path / "a", *extra))
    cfg_b = _cfg(data, tmp_path / "b", *extra)
    first = train(cfg_b, stop_after=3)  # interrupted inside stage 1
    assert first["stopped_early"] and first["stage"] == 1 and first["step"] == 3
    second = train(cfg_b, resume=True, stop_after=3)  # across the boundary into stage 2
    assert second["stopped_early"] and second["stage"] == 2 and second["step"] == 2
    last = train(cfg_b, resume=True)
    assert not last["stopped_early"]
    a = full["stages"][2]["model"].state_dict()
    b = last["stages"][2]["model"].state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], rtol=0, atol=1e-6), k
    assert full["stages"][2]["val"]["stereo"]["rmse"] == pytest.approx(
        last["stages"][2]["val"]["stereo"]["rmse"], rel=1e-6)
    with pytest.raises(FileExistsError, match="--resume"):
        train(cfg_b)  # a finished run is never overwritten silently


def test_snapshot_then_stage2_from_it_via_cli(data: tuple[Path, Path], tmp_path: Path) -> None:
    sets = [a for item in TINY for a in ("--set", item)]
    common = ["--train-dir", str(data[0]), "--val-dir", str(data[1]), *sets]
    out1 = tmp_path / "s1"
    assert main(["train", *common, "--out", str(out1), "--stage", "1", "--steps1", "4",
                 "--snapshot-at", "2", "--set", "stage1.schedule=constant"]) == 0
    snap = out1 / "stage1_step2"
    _, card = load_checkpoint(snap)
    assert card["variant"] == "baseline" and card["steps"]["stage1"] == 2
    assert card["data"]["train"]["seed"] == 11 and card["data"]["val"]["seed"] == 12
    assert card["command"].startswith("iid-rdepth train ") and "--snapshot-at 2" in card["command"]
    assert card["metrics"]["mono"]["rmse"] > 0
    out2 = tmp_path / "s2"
    assert main(["train", *common, "--out", str(out2), "--stage", "2", "--steps2", "2",
                 "--init-from", str(snap)]) == 0
    model, card2 = load_checkpoint(out2 / "stage2")
    assert card2["variant"] == "full" and card2["steps"] == {
        "stage1": 2, "stage2": 2, "stage1_checkpoint": str(snap)}
    assert set(card2["metrics"]) >= {"mono", "stereo"}
    assert (out2 / "config.yaml").is_file() and (out2 / "log.jsonl").is_file()
    # a stage-1 checkpoint of another model configuration is refused with a clear message
    out3 = tmp_path / "s3"
    assert main(["train", *common, "--out", str(out3), "--stage", "2", "--steps2", "1",
                 "--init-from", str(snap), "--set", "model.decoder.n_bins=8"]) == 2


def test_cli_stop_and_resume(data: tuple[Path, Path], tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    sets = [a for item in TINY for a in ("--set", item)]
    out = tmp_path / "run"
    assert main(["train", "--train-dir", str(data[0]), "--val-dir", "none", *sets,
                 "--out", str(out), "--stage", "1", "--steps1", "3", "--stop-after", "2"]) == 0
    assert "--resume" in capsys.readouterr().out and not (out / "stage1.yaml").exists()
    assert main(["train", "--resume", "--out", str(out)]) == 0  # config comes from out/
    _, card = load_checkpoint(out / "stage1")
    assert card["steps"]["stage1"] == 3 and card["training"]["data"]["val"] is None
    assert main(["train", "--resume", "--out", str(out), "--config", "x.yaml"]) == 2


def test_deterministic_batches_and_aux_schedule() -> None:
    seen = np.concatenate([batch_indices(10, 4, 0, 1, s) for s in range(5)])
    assert sorted(seen[:10]) == list(range(10))  # one epoch covers every frame once
    assert np.array_equal(batch_indices(10, 4, 0, 1, 3), batch_indices(10, 4, 0, 1, 3))
    assert not np.array_equal(batch_indices(10, 4, 1, 1, 0), batch_indices(10, 4, 0, 1, 0))
    assert sum(uses_aux(s, 0.25) for s in range(100)) == 25
    assert not any(uses_aux(s, 0.0) for s in range(10))
    assert all(uses_aux(s, 1.0) for s in range(10))
