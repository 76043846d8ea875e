"""Data-parallel training: global-batch SILog, batch sharding, a 2-process gloo run under
torchrun (identical replicas, matches one process with the same global batch, resumes), AMP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from iid_rdepth_ros.synth import generate
from iid_rdepth_ros.training.config import load_config
from iid_rdepth_ros.training.distributed import DistContext, shard
from iid_rdepth_ros.training.losses import silog_loss, silog_loss_global
from iid_rdepth_ros.training.train import batch_indices, train

torch.set_num_threads(1)
H, W = 64, 192
TINY = [
    "preset=lite0-96x320", f"model.input_height={H}", f"model.input_width={W}",
    f"model.canonical_focal={721.5377 * W / 1242}", "model.decoder.channels=[16, 16, 32, 32]",
    "model.decoder.n_bins=16", "model.decoder.bcp_hidden=32", "model.decoder.upsample_hidden=16",
    "model.diffusion.width=16", "model.diffusion.unet_channels=[16, 16, 16]",
    "model.diffusion.steps=2", "model.diffusion.train_steps=2", "model.avlfe.candidates=8",
    "model.avlfe.hidden=16", "model.avlfe.match_channels=8", "batch_size=4", "num_threads=1",
    "progress=false", "val_every=0", "ckpt_every=0", "log_every=1", "stage=both",
    "stage1.steps=3", "stage2.steps=3", "stage1.lr=5e-3", "stage2.lr=5e-3",
    "stage1.schedule=constant", "stage2.schedule=constant", "stage1.warmup_steps=0",
    "stage2.warmup_steps=0", "stage2.aux_prob=0.5", "data.val_frames=0"]


def _pred(theta: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.softplus(feats @ theta).view(feats.shape[0], 1, 3, 5) + 0.5


def test_global_silog_gives_the_full_batch_gradient() -> None:
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(4, 15, 6, generator=g)
    gt = torch.rand(4, 1, 3, 5, generator=g) * 20
    gt[gt < 3] = 0  # no measurement
    theta = torch.randn(6, requires_grad=True, generator=g)
    full = silog_loss(_pred(theta, feats), gt, min_depth=1e-3, max_depth=80)
    (want,) = torch.autograd.grad(full, theta)
    one, value1 = silog_loss_global(_pred(theta, feats), gt, world=1)
    (got1,) = torch.autograd.grad(one, theta)
    assert torch.allclose(got1, want, rtol=1e-5, atol=1e-7)
    assert float(value1) == pytest.approx(full.item(), rel=1e-6)
    # two replicas with two frames each: stats summed across them, gradients averaged (DDP)
    halves = [(feats[:2], gt[:2]), (feats[2:], gt[2:])]

    def stats(f: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        p = _pred(theta, f).detach()
        v = (t >= 1e-3) & (t <= 80)
        e = (torch.log(p[v]) - torch.log(t[v])).double()
        return torch.stack([e.sum(), (e * e).sum(), torch.tensor(float(v.sum()),
                                                                 dtype=torch.float64)])

    total = stats(*halves[0]) + stats(*halves[1])
    grads = []
    for f, t in halves:
        sur, value = silog_loss_global(_pred(theta, f), t, world=2, all_sum=lambda _: total)
        grads.append(torch.autograd.grad(sur, theta)[0])
        assert float(value) == pytest.approx(full.item(), rel=1e-6)
    assert torch.allclose((grads[0] + grads[1]) / 2, want, rtol=1e-5, atol=1e-7)
    # a replica without any valid pixel still returns a graph-connected zero
    sur, _ = silog_loss_global(_pred(theta, feats[:1]), torch.zeros(1, 1, 3, 5), world=2,
                               all_sum=lambda _: total)
    (zero,) = torch.autograd.grad(sur, theta)
    assert torch.count_nonzero(zero) == 0


def test_batch_sharding() -> None:
    glob = batch_indices(10, 4, 0, 1, 7)
    parts = [shard(glob, DistContext(rank=r, world=2)) for r in range(2)]
    assert np.array_equal(np.concatenate(parts), glob) and all(len(p) == 2 for p in parts)
    with pytest.raises(ValueError, match="divisible"):
        shard(glob, DistContext(rank=0, world=3))


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("ddp")
    generate(root / "train", 8, seed=21, height=H, width=W, sequence_length=4, progress=False)
    generate(root / "val", 3, seed=22, height=H, width=W, sequence_length=3, progress=False)
    return root / "train", root / "val"


def _torchrun(nproc: int, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc_per_node={nproc}", "-m", "iid_rdepth_ros.cli.train_ddp", *args]
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:  # show the first rank's traceback, not only torchrun's summary
        start = max(proc.stderr.find("Traceback"), 0)
        pytest.fail(f"torchrun failed ({proc.returncode}):\n{proc.stderr[start:start + 4000]}"
                    f"\n...\n{proc.stderr[-1500:]}\nstdout:\n{proc.stdout[-1500:]}")
    return proc


def test_two_processes_match_one(data: tuple[Path, Path], tmp_path: Path) -> None:
    sets = [a for item in TINY for a in ("--set", item)]
    common = ["--train-dir", str(data[0]), "--val-dir", str(data[1]), *sets]
    out2 = tmp_path / "ddp"
    # 2 ranks x 2 frames, interrupted after 4 steps (inside stage 2) and resumed
    first = _torchrun(2, [*common, "--out", str(out2), "--stop-after", "4"], tmp_path)
    assert "--resume" in first.stdout and first.stdout.count("stage1:") == 1  # rank 0 prints
    _torchrun(2, [*common, "--out", str(out2), "--resume"], tmp_path)
    # The same global batch of 4 in one process, each stage from the weights the DDP run
    # started it from. Stage 2 must not start from a separately trained stage 1: after three
    # steps at lr 5e-3 the stage-2 gradient of this tiny model moves ~300x as much as the
    # weights, so stage 1's rounding-level difference (oneDNN on batches of 2 vs 4, all-reduce
    # order; ~1e-5) flips the sign of a few near-zero gradient components, and Adam makes each
    # flip a full 2*lr step. How many flip depends on the CPU's kernels: 4.5 % of the update
    # with oneDNN's AVX-512 convolutions, within bounds with ONEDNN_MAX_CPU_ISA=AVX2.
    data_keys = [f"data.train={data[0]}", f"data.val={data[1]}"]
    ref_cfg = load_config(overrides=[*TINY, *data_keys, "stage=1",
                                     f"out_dir={tmp_path / 'one'}"])
    ref1 = train(ref_cfg)
    ref2 = train(load_config(overrides=[*TINY, *data_keys, "stage=2",
                                        f"stage2.init_from={out2 / 'stage1'}",
                                        f"out_dir={tmp_path / 'one2'}"]))
    records = [json.loads(line) for line in (out2 / "log.jsonl").read_text().splitlines()]
    replicas = [r["replicas"] for r in records if "replicas" in r]
    assert len(replicas) == 2 and all(len(d) == 2 and d[0] == d[1] for d in replicas)
    # Parameters: Adam normalises every gradient component, so components whose gradient is
    # at rounding level may differ by ~lr per step; compare the whole update instead.
    from iid_rdepth_ros.training.train import _build, init_seed, model_config

    torch.manual_seed(init_seed(0, 1))
    starts = {"stage1": {k: v for k, v in _build(model_config(ref_cfg), "baseline")
                         .state_dict().items() if not k.startswith("encoder.")},
              "stage2": load_file(str(out2 / "stage1.safetensors"))}
    refs = {"stage1": tmp_path / "one" / "stage1.safetensors",
            "stage2": tmp_path / "one2" / "stage2.safetensors"}
    for stage in ("stage1", "stage2"):
        got = load_file(str(out2 / f"{stage}.safetensors"))
        want = load_file(str(refs[stage]))
        start = starts[stage]
        assert got.keys() == want.keys()
        keys = [k for k in want if k in start and want[k].is_floating_point()]
        step = torch.cat([(want[k] - start[k]).flatten() for k in keys])
        diff = torch.cat([(got[k] - want[k]).flatten() for k in keys])
        assert float(step.norm()) > 0.1  # lr 5e-3: the weights really moved
        assert float(diff.norm()) < 0.02 * float(step.norm()), stage
    losses = [r["loss"] for r in records if "loss" in r]
    assert losses == pytest.approx(ref1["stages"][1]["losses"] + ref2["stages"][2]["losses"],
                                   rel=1e-3)  # the global-batch loss (not a per-rank one)
    val = [r["val"] for r in records if "val" in r][-1]
    assert val["stereo"]["frames"] == 3  # sharded over the ranks, gathered
    assert val["stereo"]["rmse"] == pytest.approx(ref2["stages"][2]["val"]["stereo"]["rmse"],
                                                  rel=1e-3)
    card = (out2 / "stage2.yaml").read_text()
    assert "world_size: 2" in card and "backend: gloo" in card


def test_mixed_precision(data: tuple[Path, Path], tmp_path: Path) -> None:
    base = [*TINY, f"data.train={data[0]}", "data.val=null", "stage=1"]
    result = train(load_config(overrides=[*base, f"out_dir={tmp_path / 'bf16'}", "amp=bf16"]))
    losses = result["stages"][1]["losses"]
    assert len(losses) == 3 and all(np.isfinite(losses))
    assert "amp: bf16" in (tmp_path / "bf16" / "stage1.yaml").read_text()
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="fp16 needs a CUDA"):
            train(load_config(overrides=[*base, f"out_dir={tmp_path / 'fp16'}", "amp=fp16"]))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="fp16 + GradScaler needs CUDA")
def test_fp16_grad_scaler_resumes_on_cuda(data: tuple[Path, Path], tmp_path: Path) -> None:
    base = [*TINY, f"data.train={data[0]}", "data.val=null", "stage=1", "device=cuda",
            "amp=fp16", f"out_dir={tmp_path / 'run'}"]
    cfg = load_config(overrides=base)
    train(cfg, stop_after=2)
    state = json.loads((tmp_path / "run" / "resume" / "state.json").read_text())
    assert state["scaler"]["scale"] > 0
    result = train(cfg, resume=True)
    assert all(np.isfinite(result["stages"][1]["losses"]))
