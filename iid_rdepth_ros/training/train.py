"""Two-stage training of IID-RDepth (DESIGN.md section 2).

Stage 1 trains the baseline decoder (``variant="baseline"``) on the frozen encoder. Stage 2
builds the full model, loads the stage-1 weights, switches to ``set_stage(2)`` and trains the
diffusion restoration, the invertible decoder stages and AV-LFE. A fraction ``aux_prob`` of the
stage-2 batches carries the auxiliary (right) view, the rest are mono, so one set of weights
serves both; the batches with the view are spread evenly (step ``s`` uses it when
``floor((s + 1) p) > floor(s p)``).

Loss: SILog (training/losses.py) between the metric prediction -- the network's depth at the
canonical focal times ``fx / canonical_focal`` -- and the sparse LiDAR-like ground truth, at the
data's own resolution (the decoder upsamples to it). Optional terms: ``stageN.hint_weight`` x
log-L1 to OpenCV SGBM depth of the training stereo pair where the LiDAR has no return, and
``stage2.stereo_loss_weight`` x log-L1 of AV-LFE's own stereo depth (aux steps). Optimiser:
AdamW over ``model.trainable_parameters()`` only (the encoder is asserted absent), linear
warm-up then constant or cosine LR, global grad-norm clipping.

Determinism and exact resume: the batch of step ``s`` (epoch-wise permutations seeded by
``(seed, stage, epoch)``), the aux choice and the torch RNG seed of the step are pure functions
of ``(seed, stage, s)``, the LR is a pure function of ``s``, and the resume state stores model,
optimizer and RNG state (training/resume_state.py). Resuming therefore continues the same
trajectory as an uninterrupted run.

Outputs in ``out_dir``: ``config.yaml`` (resolved config), ``stage1.*`` / ``stage2.*``
checkpoints (``save_checkpoint``: safetensors + model card), ``stage1_step<N>.*`` when
``stage1.snapshot_at`` is set, ``resume/`` (latest resume state), ``log.jsonl`` (losses and
validation metrics).

Data: any registered data set (``cfg.data.dataset``: synth-street, KITTI, NYU Depth v2, a
folder of your own; ``datasets``). Scale-out: under torchrun the same function trains
data-parallel (``training.distributed``: DDP over the trainable decoder, the global batch
sharded over ranks, global-batch SILog, rank-0 outputs, sharded validation). Mixed precision:
``cfg.amp`` = ``bf16`` / ``fp16`` (autocast around the decoder; fp16 with a GradScaler whose
state is part of the resume state). With ``cache.mode=off``, ``data.workers`` DataLoader
processes read the frames of the coming steps ahead (same batches, same order).
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from iid_rdepth_ros.artifacts.checkpoint_ref import NAMED_CHECKPOINTS
from iid_rdepth_ros.datasets import get_dataset, resolve_crop
from iid_rdepth_ros.datasets.frames import DepthFrames, collate
from iid_rdepth_ros.training import distributed, run_dir
from iid_rdepth_ros.training.config import TrainConfig, deep_update, save_config
from iid_rdepth_ros.training.distributed import DistContext
from iid_rdepth_ros.training.feature_cache import FeatureCache
from iid_rdepth_ros.training.losses import (
    log_l1_loss,
    silog_loss,
    silog_loss_global,
)
from iid_rdepth_ros.training.resume_state import load_state, save_state, state_dir
from iid_rdepth_ros.training.run_dir import CONFIG_FILE, LOG_FILE, RESUME_DIR
from iid_rdepth_ros.training.schedule import lr_factor

REPORT_KEYS = ("rmse", "abs_rel", "silog", "d1")
DISK_CACHE_WAIT_S = 24 * 3600.0  # how long ranks > 0 wait for rank 0 to build a disk cache


# -- model seam -----------------------------------------------------------------------------
def model_config(cfg: TrainConfig) -> Any:
    """The preset named by ``cfg.preset`` with the nested ``cfg.model`` overrides applied."""
    from iid_rdepth_ros.model import get_preset
    from iid_rdepth_ros.model.config import ModelConfig
    from iid_rdepth_ros.training import finetune

    base = finetune.base_checkpoint(cfg)
    if base is not None:  # fine-tune of a full model: its network, some keys may change
        return finetune.model_config(cfg, base)
    mcfg = get_preset(cfg.preset)
    if not cfg.model:
        return mcfg
    tree = mcfg.to_dict()
    deep_update(tree, cfg.model)
    try:
        return ModelConfig.from_dict(tree)
    except ValueError as exc:
        raise ValueError(f"config model: {exc}") from None


def input_size(mcfg: Any) -> tuple[int, int]:
    """(H, W) the network takes."""
    return int(mcfg.input_height), int(mcfg.input_width)


def _build(mcfg: Any, variant: str) -> torch.nn.Module:
    from iid_rdepth_ros.model import build_model

    return build_model(mcfg, variant=variant)


STAGE2_ONLY = ("diffusion", "invertible", "avlfe", "stereo")


def _load_stage1(model: torch.nn.Module, source: str) -> dict[str, Any]:
    """Load a stage-1 (baseline) checkpoint into a full model of the same configuration."""
    from iid_rdepth_ros.model.checkpoint import load_checkpoint

    baseline, card = load_checkpoint(source)
    mine, theirs = model.cfg.to_dict(), baseline.cfg.to_dict()
    differ = sorted(k for k in mine if k not in STAGE2_ONLY + ("name",)
                    and mine[k] != theirs.get(k))
    if differ:
        raise ValueError(f"stage-1 checkpoint {source} was trained with another model config "
                         f"({', '.join(differ)} differ); use the same preset / model overrides")
    if card.get("variant") != "baseline":
        raise ValueError(f"stage-1 checkpoint {source} is a {card.get('variant')!r} model, "
                         "stage 2 starts from a 'baseline' one")
    model.load_baseline_state(baseline.decoder_state_dict())
    return card


def _save_ckpt(stem: Path, model: torch.nn.Module, card: dict[str, Any],
               ctx: DistContext | None = None) -> str:
    """Write a checkpoint (rank 0 only; every rank waits until it is on disk)."""
    from iid_rdepth_ros.model.checkpoint import save_checkpoint

    ctx = ctx or DistContext()
    if ctx.is_main:
        save_checkpoint(stem, model, card)
    distributed.barrier(ctx)
    return str(stem.with_suffix(".safetensors"))


def check_optimizer_excludes_encoder(model: torch.nn.Module, params: list[torch.Tensor]) -> None:
    """Raise if any encoder parameter is handed to the optimiser or requires grad."""
    enc = list(model.encoder.parameters())
    enc_ids = {id(p) for p in enc}
    if any(id(p) in enc_ids for p in params):
        raise RuntimeError("the frozen encoder must not be in the optimiser")
    if any(p.requires_grad for p in enc):
        raise RuntimeError("the frozen encoder has parameters with requires_grad=True")


# -- deterministic per-step choices ----------------------------------------------------------
def batch_indices(n: int, batch_size: int, seed: int, stage: int, step: int) -> np.ndarray:
    """Frame indices of ``step``: consecutive slices of per-epoch permutations."""
    pos = np.arange(step * batch_size, (step + 1) * batch_size)
    out = np.empty(batch_size, dtype=np.int64)
    for epoch in np.unique(pos // n):
        perm = np.random.default_rng([seed, stage, int(epoch)]).permutation(n)
        sel = pos // n == epoch
        out[sel] = perm[pos[sel] % n]
    return out


def uses_aux(step: int, aux_prob: float) -> bool:
    """Whether stage-2 step ``step`` trains with the auxiliary view (evenly spread)."""
    return math.floor((step + 1) * aux_prob) > math.floor(step * aux_prob)


def init_seed(seed: int, stage: int) -> int:
    """Seed of torch's global RNG when the model of ``stage`` is built."""
    return int(np.random.SeedSequence([seed, stage, 2**32 - 1]).generate_state(1, np.uint64)[0])


def step_seed(seed: int, stage: int, step: int) -> int:
    """Seed of torch's global RNG for one optimisation step."""
    return int(np.random.SeedSequence([seed, stage, step]).generate_state(1, np.uint64)[0])


# -- the run ------------------------------------------------------------------------------
class _Run:
    """State shared by the stages of one ``train()`` call."""

    def __init__(self, cfg: TrainConfig, command: str | None, resume: bool,
                 stop_after: int | None, ctx: DistContext | None = None,
                 device: torch.device | None = None) -> None:
        self.cfg = cfg
        self.dist = ctx or DistContext()
        self.out = Path(cfg.out_dir)
        self.command = command
        self.stop_after = stop_after
        self.budget = stop_after
        self.mcfg = model_config(cfg)
        self.size = input_size(self.mcfg)
        self.canonical = float(self.mcfg.canonical_focal)
        self.stages = [1, 2] if cfg.stage == "both" else [int(cfg.stage)]
        # One cache per split for the whole run: with stage 2 ahead it also holds the aux view.
        aux = 2 in self.stages
        self.spec = get_dataset(cfg.data.dataset)
        self.crop = resolve_crop(cfg.data.dataset, cfg.data.eval_crop)
        self.train_fields = ("main", "lidar") + (("aux",) if aux and cfg.stage2.aux_prob > 0
                                                 else ())
        if any(getattr(cfg, f"stage{s}").hint_weight > 0 for s in self.stages):
            # SGBM hints need the stereo pair (its features are cached too: one cache per run)
            self.train_fields = (*dict.fromkeys((*self.train_fields, "aux")), "hint")
        self.val_fields = ("main", "depth") + (("aux",) if aux and self.spec.stereo is not False
                                               else ())
        self.state: dict[str, Any] = {"stage": self.stages[0], "step": 0, "done": {},
                                      "checkpoints": {}, "elapsed_s": 0.0, "scaler": None}
        self.resume = resume
        self.device = device if device is not None else resolve_device(cfg.device)
        if cfg.amp == "fp16" and self.device.type != "cuda":
            raise ValueError("amp fp16 needs a CUDA device (use amp bf16 or off on the CPU)")
        self.init: dict[str, Any] = {}  # stage-1 checkpoint stage 2 started from
        from iid_rdepth_ros.training.finetune import base_checkpoint

        self.base = base_checkpoint(cfg)  # the full model a fine-tune starts from, or None
        self.t0 = time.monotonic()
        self._frames: dict[str, DepthFrames] = {}
        self._caches: dict[str, FeatureCache] = {}

    # data ------------------------------------------------------------------------------
    def frames(self, split: str) -> DepthFrames:
        if split not in self._frames:
            d = self.cfg.data
            limit = d.val_frames if split == "val" else 0
            fields = self.train_fields if split == "train" else self.val_fields
            options = {"eval_crop": d.eval_crop, "gt": d.gt, "gt_root": d.gt_root,
                       "kb_crop": d.kb_crop, "on_missing": "skip"}
            options = {k: v for k, v in options.items() if k in self.spec.options}
            frames = DepthFrames.from_dataset(d.dataset, getattr(d, split), self.size,
                                              root=d.root, aux="aux" in fields, limit=limit,
                                              **options)
            if "aux" in fields and not frames.aux:
                if split == "train":
                    raise ValueError(f"the {d.dataset} data {getattr(d, split)} has no "
                                     "auxiliary (right) view: set stage2.aux_prob=0")
                self.val_fields = tuple(f for f in self.val_fields if f != "aux")
            skipped = frames.meta.get("skipped")
            if self.dist.is_main and self.cfg.progress and skipped and any(skipped.values()):
                print(f"{split} split {getattr(d, split)}: {len(frames)} frames; skipped "
                      + ", ".join(f"{v} without {k}" for k, v in skipped.items() if v))
            self._frames[split] = frames
        return self._frames[split]

    def cache(self, split: str, model: torch.nn.Module, fields: tuple[str, ...]) -> FeatureCache:
        key = split
        if key not in self._caches:
            c = self.cfg.cache
            frames = self.frames(split)
            fields = tuple(f for f in fields if f != "aux" or frames.aux)
            # Rank 0 builds a disk cache, the other ranks wait for its files (no collective:
            # a build may take longer than any collective timeout).
            wait = (DISK_CACHE_WAIT_S if self.dist.enabled and c.mode == "disk"
                    and not self.dist.is_main else None)
            self._caches[key] = FeatureCache(
                frames, model, mode=c.mode, root=c.dir, fields=fields,
                chunk=self.cfg.batch_size, progress=self.cfg.progress and self.dist.is_main,
                desc=f"encode {split}", wait_s=wait)
            if self.cfg.progress and c.mode != "off" and self.dist.is_main:
                cache = self._caches[key]
                where = cache.path if c.mode == "disk" else "memory"
                print(f"feature cache {split}: {len(cache)} frames, "
                      f"{cache.nbytes / 2**20:.0f} MiB ({where})")
        else:
            self._caches[key].model = model  # same frozen encoder, new decoder around it
        return self._caches[key]

    def data_card(self) -> dict[str, Any]:
        d = self.cfg.data
        out = {}
        for split in ("train", "val"):
            name = getattr(d, split)
            if name is not None:
                frames = self.frames(split)
                meta = frames.meta
                where = (str(Path(d.root) / name) if d.root is not None else str(name)) \
                    if d.dataset == "synth" else str(d.root)
                out[split] = {"dataset": d.dataset, "dir": where, "split": str(name),
                              "meta": meta, "seed": meta.get("seed"),
                              "frames_used": len(frames)}
        return out

    # bookkeeping ------------------------------------------------------------------------
    def log(self, record: dict[str, Any]) -> None:
        if not self.dist.is_main:
            return
        with (self.out / LOG_FILE).open("a") as f:
            f.write(json.dumps(record) + "\n")

    def write(self, text: str) -> None:
        """A line above the progress bar (rank 0 only)."""
        if self.dist.is_main:
            from tqdm import tqdm

            tqdm.write(text)

    def elapsed(self) -> float:
        return self.state["elapsed_s"] + time.monotonic() - self.t0

    def save_resume(self, model: torch.nn.Module | None,
                    opt: torch.optim.Optimizer | None) -> None:
        self.state["elapsed_s"] = self.elapsed()
        self.t0 = time.monotonic()
        if self.dist.is_main:
            save_state(self.out / RESUME_DIR, self.state, model=model, optimizer=opt)
        distributed.barrier(self.dist)

    def autocast(self) -> Any:
        """Mixed-precision context of the training forward (``cfg.amp``)."""
        if self.cfg.amp == "off":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.cfg.amp == "bf16" else torch.float16
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    # metrics ----------------------------------------------------------------------------
    def metric_depth(self, pred: torch.Tensor, fx: torch.Tensor) -> torch.Tensor:
        """Depth at the canonical focal -> metric depth for cameras with focal ``fx``."""
        return pred * (fx / self.canonical).view(-1, 1, 1, 1)

    def stereo_loss(self, log_depth: torch.Tensor, b: dict[str, Any]) -> torch.Tensor:
        """Log-L1 of AV-LFE's own stereo depth (canonical log depth at its level, resized to
        the ground truth) against the batch's sparse ground truth, and the SGBM hints where
        there is no LiDAR return when the batch has hints. Local to this replica: under DDP
        its gradient is the mean of the replicas' (not the global batch's) loss."""
        from iid_rdepth_ros.model.layers import resize_to

        gt = b["lidar"]
        if "hint" in b:
            gt = torch.where(gt > 0, gt, b["hint"])
        log_metric = (resize_to(log_depth.float(), tuple(gt.shape[-2:]))
                      + torch.log(b["fx"] / self.canonical).view(-1, 1, 1, 1))
        return log_l1_loss(log_metric, gt, min_depth=self.cfg.data.min_depth,
                           max_depth=self.cfg.data.max_depth)

    def hint_loss(self, metric: torch.Tensor, b: dict[str, Any]) -> torch.Tensor:
        """Log-L1 of the metric prediction to the SGBM depth hints on the pixels SGBM matched
        and the LiDAR did not measure (local to this replica under DDP)."""
        hint = b["hint"] * (b["lidar"] <= 0)
        return log_l1_loss(torch.log(metric.clamp_min(self.cfg.data.min_depth)), hint,
                           min_depth=self.cfg.data.min_depth, max_depth=self.cfg.data.max_depth)

    @torch.no_grad()
    def validate(self, model: torch.nn.Module, stage: int) -> dict[str, dict[str, float]]:
        """Mono (and in stage 2 stereo) metrics on the cached validation features: the
        decoder only, so without AV-LFE's image-level stereo refinement (``avlfe.refine``)."""
        from iid_rdepth_ros.evaluation.metrics import MetricAccumulator

        if self.cfg.data.val is None:
            return {}
        cache = self.cache("val", model, self.val_fields)
        stereo = stage == 2 and "aux" in cache.fields
        modes = ["mono", "stereo"] if stereo else ["mono"]
        was_training = model.training
        model.eval()
        results = {}
        d = self.cfg.data
        for mode in modes:
            # frames r, r + N, ... on rank r; the per-frame metrics are gathered and averaged
            # in frame order, so every rank gets the one-process result
            acc = MetricAccumulator(d.min_depth, d.max_depth)
            mine = list(range(self.dist.rank, len(cache), self.dist.world))
            rows: list[tuple[int, dict[str, float] | None]] = []
            for start in range(0, len(mine), self.cfg.batch_size):
                idx = mine[start:start + self.cfg.batch_size]
                b = _to(cache.batch(idx, aux=mode == "stereo"), self.device)
                pred = _decode(model, b, mode == "stereo", None, b["depth"].shape[-2:],
                               self.canonical)
                pred = self.metric_depth(pred, b["fx"]).cpu()
                depth = b["depth"].cpu()
                for i, pos in enumerate(idx):
                    rows.append((pos, acc.update(pred[i, 0].numpy(), depth[i, 0].numpy())))
            total = MetricAccumulator(d.min_depth, d.max_depth)
            for _, m in sorted((r for part in distributed.gather(rows, self.dist)
                                for r in part), key=lambda r: r[0]):
                if m is None:
                    total.skipped += 1
                else:
                    total.add(m)
            results[mode] = total.result()
        model.train(was_training)
        _keep_encoder_eval(model)
        return results


def resolve_device(name: str) -> torch.device:
    """``cpu``, ``cuda[:N]`` or ``auto``; a CUDA device that is not there is a ValueError."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available here")
    return torch.device(name)


def _to(b: dict[str, Any], device: torch.device) -> dict[str, Any]:
    if device.type == "cpu":
        return b
    return {k: [t.to(device, non_blocking=True) for t in v] if isinstance(v, list)
            else v.to(device, non_blocking=True) for k, v in b.items()}


def _keep_encoder_eval(model: torch.nn.Module) -> None:
    model.encoder.eval()


def _decode(model: torch.nn.Module, b: dict[str, Any], aux: bool, steps: int | None,
            out_size: Any, canonical: float) -> torch.Tensor:
    kwargs: dict[str, Any] = {"out_size": tuple(int(s) for s in out_size)}
    if steps is not None:
        kwargs["steps"] = steps
    if aux:
        kwargs["aux_feats"] = b["aux"]
        kwargs["fb"] = canonical * b["baseline"]  # model.focal.stereo_fb, per frame
    return model.decode(b["main"], **kwargs)


def _fmt(metrics: dict[str, dict[str, float]]) -> str:
    return " | ".join(
        f"{mode} " + " ".join(f"{k} {m[k]:.4g}" for k in REPORT_KEYS)
        for mode, m in metrics.items())


def _stage_model(run: _Run, stage: int) -> torch.nn.Module:
    """A fresh model for ``stage`` (stage 2 initialised from its stage-1 weights)."""
    torch.manual_seed(init_seed(run.cfg.seed, stage))  # the random init is part of the run
    if stage == 1:
        model = _build(run.mcfg, "baseline")
    else:
        model = _build(run.mcfg, "full")
        src = run.cfg.stage2.init_from
        if run.base is not None:  # fine-tune (training/finetune.py)
            from iid_rdepth_ros.training.finetune import load_base

            run.init = {"fine_tuned_from": load_base(model, run.base)}
        elif src in ("stage1", "snapshot"):
            key = "stage1" if src == "stage1" else "stage1_snapshot"
            if key not in run.state["checkpoints"]:
                raise ValueError(f"stage2.init_from={src}: this run has no {key} checkpoint")
            src = run.state["checkpoints"][key]
        elif not (Path(src).exists() or Path(src).with_suffix(".safetensors").exists()
                  or src in NAMED_CHECKPOINTS):
            raise FileNotFoundError(f"stage2.init_from checkpoint not found: {src}")
        if run.base is None:
            card = _load_stage1(model, src)
            run.init = {"source": str(src), "steps": (card.get("steps") or {}).get("stage1"),
                        "wall_time_s": card.get("wall_time_s")}
    model.set_stage(stage)
    if stage == 2:
        from iid_rdepth_ros.training.finetune import apply_trainable

        apply_trainable(model, run.cfg.stage2.trainable)
    return model.to(run.device)


def _batches(run: _Run, cache: FeatureCache, stage: int, step0: int, steps: int,
             aux_prob: float) -> Iterator[dict[str, Any]]:
    """This rank's batch for each step ``step0 .. steps - 1`` (CPU tensors or, with cache off,
    features on the model's device)."""
    cfg = run.cfg
    n = len(cache)

    def local(step: int) -> np.ndarray:
        return distributed.shard(batch_indices(n, cfg.batch_size, cfg.seed, stage, step),
                                 run.dist)

    def aux(step: int) -> bool:
        return stage == 2 and uses_aux(step, aux_prob)

    if cache.mode != "off" or cfg.data.workers == 0:
        for step in range(step0, steps):
            yield cache.batch(local(step), aux=aux(step))
        return
    loader = torch.utils.data.DataLoader(
        cache.frames, batch_sampler=[local(s).tolist() for s in range(step0, steps)],
        collate_fn=collate, num_workers=cfg.data.workers,
        pin_memory=run.device.type == "cuda")
    for step, batch in zip(range(step0, steps), loader, strict=False):
        yield cache.from_collated(batch, aux=aux(step))


def _param_groups(model: Any, stage: int, st: Any) -> list[dict[str, Any]]:
    """Optimizer groups: in stage 2, parameters the stage-1 model lacks (diffusion, coupling
    blocks, AV-LFE) start from scratch and get ``stage2.new_lr_scale`` x the stage's lr."""
    scale = float(getattr(st, "new_lr_scale", 1.0))
    named = [(n, p) for n, p in model.named_trainable_parameters() if p.requires_grad]
    if stage != 2 or scale == 1.0:
        return [{"params": [p for _, p in named], "lr_scale": 1.0}]
    from iid_rdepth_ros.model import build_model

    stage1_names = set(build_model(model.cfg, variant="baseline",
                                   pretrained_encoder=False).state_dict())
    new = [p for n, p in named if n not in stage1_names]
    old = [p for n, p in named if n in stage1_names]
    return [g for g in ({"params": old, "lr_scale": 1.0}, {"params": new, "lr_scale": scale})
            if g["params"]]


def _run_stage(run: _Run, stage: int) -> dict[str, Any]:
    """Train one stage (possibly resuming it); returns its summary."""
    from tqdm import tqdm

    cfg = run.cfg
    st = cfg.stage1 if stage == 1 else cfg.stage2
    model = _stage_model(run, stage)
    params = [p for p in model.trainable_parameters() if p.requires_grad]
    if not params:
        raise RuntimeError(f"stage {stage}: the model has no trainable parameters")
    check_optimizer_excludes_encoder(model, params)
    groups = (_param_groups(model, stage, st) if run.base is None  # fine-tune: all pretrained
              else [{"params": params, "lr_scale": 1.0}])
    opt = torch.optim.AdamW(groups, lr=st.lr, weight_decay=st.weight_decay)
    scaler = torch.amp.GradScaler(run.device.type, enabled=cfg.amp == "fp16")

    step0 = 0
    if run.resume and run.state["stage"] == stage and run.state["step"] > 0:
        load_state(run.out / RESUME_DIR, model=model, optimizer=opt)
        step0 = run.state["step"]
        if scaler.is_enabled() and run.state.get("scaler"):
            scaler.load_state_dict(run.state["scaler"])

    aux_prob = cfg.stage2.aux_prob if stage == 2 else 0.0
    cache = run.cache("train", model, run.train_fields)
    steps_T = cfg.stage2.diffusion_steps if stage == 2 else None
    stereo_weight = cfg.stage2.stereo_loss_weight if stage == 2 else 0.0
    hint_weight = st.hint_weight
    model.train()
    _keep_encoder_eval(model)
    # stage 2: AV-LFE gets no gradient on mono steps (the same steps on every rank)
    net = distributed.wrap(model, run.dist, run.device, find_unused=stage == 2 and aux_prob < 1)
    reduce = distributed.all_sum(run.dist, run.device)

    def save_resume(step: int) -> None:
        run.state.update(stage=stage, step=step)
        if scaler.is_enabled():
            run.state["scaler"] = scaler.state_dict()
        run.save_resume(model, opt)

    losses: list[float] = []
    extra: dict[str, list[float]] = {"stereo_loss": [], "hint_loss": []}  # auxiliary terms
    summary: dict[str, Any] = {"steps": st.steps, "start_step": step0}
    bar = tqdm(total=st.steps, initial=step0, desc=f"stage {stage}", unit="step",
               disable=not (cfg.progress and run.dist.is_main), dynamic_ncols=True)
    batches = _batches(run, cache, stage, step0, st.steps, aux_prob)
    ema = None
    t_start, cpu_start = time.monotonic(), time.process_time()
    step = step0
    for step in range(step0, st.steps):
        if run.budget is not None and run.budget <= 0:
            save_resume(step)
            bar.close()
            summary.update(stopped_at=step, losses=losses)
            return summary
        lr = st.lr * lr_factor(step, st.steps, warmup=st.warmup_steps, kind=st.schedule,
                               min_ratio=st.min_lr_ratio)
        for group in opt.param_groups:
            group["lr"] = lr * group["lr_scale"]
        torch.manual_seed(step_seed(cfg.seed, stage, step))
        aux = stage == 2 and uses_aux(step, aux_prob)
        with run.autocast():  # cache off: the frozen encoder runs here too
            b = _to(next(batches), run.device)
            pred, stereo_log = net(b["main"], b["aux"] if aux else None,
                                   run.canonical * b["baseline"] if aux else None, steps_T,
                                   tuple(int(v) for v in b["lidar"].shape[-2:]))
        metric = run.metric_depth(pred.float(), b["fx"])
        if run.dist.enabled:  # the loss of the global batch, whatever rank holds which pixel
            loss, value_t = silog_loss_global(
                metric, b["lidar"], min_depth=cfg.data.min_depth, max_depth=cfg.data.max_depth,
                world=run.dist.world, all_sum=reduce)
        else:
            loss = silog_loss(metric, b["lidar"], min_depth=cfg.data.min_depth,
                              max_depth=cfg.data.max_depth)
            value_t = loss.detach()
        if hint_weight > 0:
            term = run.hint_loss(metric, b)
            extra["hint_loss"].append(float(term.detach()))
            loss = loss + hint_weight * term
        if stereo_log is not None and stereo_weight > 0:
            term = run.stereo_loss(stereo_log, b)
            extra["stereo_loss"].append(float(term.detach()))
            loss = loss + stereo_weight * term
        value = float(value_t)
        if not (math.isfinite(value) and math.isfinite(float(loss.detach()))):
            raise FloatingPointError(f"stage {stage} step {step}: loss is {value} (with the "
                                     f"auxiliary terms {float(loss.detach())})")
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if cfg.grad_clip > 0:
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        scaler.step(opt)
        scaler.update()
        if run.budget is not None:
            run.budget -= 1

        losses.append(value)
        ema = value if ema is None else 0.95 * ema + 0.05 * value
        bar.update(1)
        bar.set_postfix(loss=f"{ema:.3f}", lr=f"{lr:.2e}", aux=int(aux), refresh=False)
        done = step + 1
        if cfg.log_every and done % cfg.log_every == 0:
            record = {"stage": stage, "step": done,
                      "loss": float(np.mean(losses[-cfg.log_every:])), "lr": lr}
            for name, values in extra.items():
                if values:
                    record[name] = float(np.mean(values))
                    values.clear()
            run.log(record)
        if stage == 1 and cfg.stage1.snapshot_at == done:
            card = _card(run, stage, done, run.validate(model, stage))
            path = _save_ckpt(run.out / f"stage1_step{done}", model, card, run.dist)
            run.state["checkpoints"]["stage1_snapshot"] = path
            run.write(f"stage 1 snapshot at step {done}: {path}")
        if done < st.steps and cfg.val_every and done % cfg.val_every == 0:
            metrics = run.validate(model, stage)
            if metrics:
                run.log({"stage": stage, "step": done, "val": metrics})
                run.write(f"stage {stage} step {done} val: {_fmt(metrics)}")
        if done < st.steps and cfg.ckpt_every and done % cfg.ckpt_every == 0:
            save_resume(done)
    bar.close()
    batches.close()
    loop_s = time.monotonic() - t_start
    loop_cpu_s = time.process_time() - cpu_start

    if run.dist.enabled:  # every replica must hold the same weights
        digests = distributed.gather(distributed.replica_digest(model), run.dist)
        run.log({"stage": stage, "step": st.steps, "replicas": digests})
        if len(set(digests)) != 1:
            raise RuntimeError(f"stage {stage}: the {run.dist.world} replicas diverged "
                               f"(parameter digests {digests})")
    metrics = run.validate(model, stage)
    if metrics:
        run.log({"stage": stage, "step": st.steps, "val": metrics})
        run.write(f"stage {stage} final val: {_fmt(metrics)}")
    name = f"stage{stage}"
    path = _save_ckpt(run.out / name, model, _card(run, stage, st.steps, metrics), run.dist)
    run.state["checkpoints"][name] = path
    ran = st.steps - step0
    summary.update(losses=losses, val=metrics, checkpoint=path,
                   sec_per_step=loop_s / ran if ran else None,
                   cpu_sec_per_step=loop_cpu_s / ran if ran else None)
    run.state["done"][str(stage)] = {k: v for k, v in summary.items() if k != "losses"}
    nxt = [s for s in run.stages if s > stage]
    run.state.update(stage=nxt[0] if nxt else stage, step=0 if nxt else st.steps)
    run.state["scaler"] = None
    run.save_resume(None, None)
    summary["model"] = model
    return summary


def _card(run: _Run, stage: int, step: int, metrics: dict[str, Any]) -> dict[str, Any]:
    cfg = run.cfg
    steps: dict[str, Any] = {"stage1": step}
    if stage == 2:
        steps = {"stage1": run.init.get("steps"), "stage2": step,
                 "stage1_checkpoint": run.init.get("source")}
    extra: dict[str, Any] = {}
    if "fine_tuned_from" in run.init:
        steps = {"fine_tune": step, "base": run.init["fine_tuned_from"].get("steps")}
        extra["fine_tuned_from"] = run.init["fine_tuned_from"]
    return {
        **extra,
        "stage": stage,
        "training": cfg.to_dict(),
        "data": run.data_card(),
        "command": run.command,
        "steps": steps,
        "wall_time_s": round(run.elapsed(), 1),
        "setup": {"world_size": run.dist.world, "backend": run.dist.backend,
                  "device": str(run.device), "amp": cfg.amp, "global_batch": cfg.batch_size,
                  "batch_per_rank": cfg.batch_size // run.dist.world},
        "metrics": {"split": "val", "dir": cfg.data.val, "dataset": cfg.data.dataset,
                    "min_depth": cfg.data.min_depth, "max_depth": cfg.data.max_depth,
                    "eval_crop": run.crop, "garg_crop": run.crop == "garg", **metrics},
    }


def train(config: TrainConfig, *, resume: bool = False, stop_after: int | None = None,
          command: str | None = None, overwrite: bool = False) -> dict[str, Any]:
    """Run the stages ``config.stage`` asks for; return a summary.

    ``resume`` continues from ``out_dir/resume``; ``stop_after`` stops (leaving a resume state)
    after that many optimisation steps in this call; ``command`` is recorded in model cards.
    A fresh run refuses an ``out_dir`` holding another run's resume state or checkpoints unless
    ``overwrite`` (which removes them first), and removes what it wrote if it fails before its
    first resume state (``training/run_dir.py``).
    The result holds ``out_dir``, ``checkpoints`` (name -> path), per-stage summaries under
    ``stages`` (losses, val metrics, wall and CPU seconds per step, and the trained ``model``
    object of the stages run in this call), ``stopped_early``, and ``stage`` / ``step`` reached,
    plus ``rank`` / ``world_size``. Started by torchrun (``WORLD_SIZE`` > 1) it trains
    data-parallel (module docstring) and every rank returns the same summary.
    """
    cfg = config.validate()
    torch.set_num_threads(cfg.num_threads)
    ctx, device = distributed.setup(cfg.device, resolve_device)
    try:
        return _train(cfg, ctx, device, resume, stop_after, command, overwrite)
    finally:
        distributed.teardown(ctx)


def _train(cfg: TrainConfig, ctx: DistContext, device: torch.device, resume: bool,
           stop_after: int | None, command: str | None, overwrite: bool) -> dict[str, Any]:
    if cfg.batch_size % ctx.world:
        raise ValueError(f"batch_size {cfg.batch_size} is not divisible by the {ctx.world} "
                         "processes (it is the global batch, split evenly over the ranks)")
    out = Path(cfg.out_dir)
    run = _Run(cfg, command, resume, stop_after, ctx, device)
    for split in ("train", "val"):  # fail now, not after hours, on a missing split or file
        if getattr(cfg.data, split) is not None:
            run.frames(split)
    has_state = state_dir(out / RESUME_DIR) is not None
    stale: list[Path] = []
    if resume:
        if not has_state:
            raise FileNotFoundError(f"nothing to resume in {out} (no {RESUME_DIR}/ state; a "
                                    "run that fails before its first one leaves nothing to "
                                    "resume: start it again without --resume)")
        saved = load_state(out / RESUME_DIR, restore_rng=True)
        run.state = {k: saved.get(k, v) for k, v in run.state.items()}
        if run.state["stage"] not in run.stages:
            raise ValueError(f"resume state is in stage {run.state['stage']}, but this config "
                             f"trains stage(s) {run.stages}")
    else:  # the same verdict on every rank (training/run_dir.py)
        stale = run_dir.check_fresh(out, has_state, overwrite)
    distributed.barrier(ctx)  # every rank has looked before rank 0 writes
    claim = None
    if ctx.is_main:
        run_dir.remove(stale + run_dir.temporary_files(out))
        claim = None if resume else run_dir.Claim(out)
        out.mkdir(parents=True, exist_ok=True)
        save_config(cfg, out / CONFIG_FILE)
    distributed.barrier(ctx)

    result: dict[str, Any] = {"out_dir": str(out), "stages": {}, "stopped_early": False,
                              "rank": ctx.rank, "world_size": ctx.world}
    try:
        for stage in run.stages:
            if str(stage) in run.state["done"]:
                result["stages"][stage] = run.state["done"][str(stage)]
                continue
            if run.budget is not None and run.budget <= 0:
                result["stopped_early"] = True
                break
            summary = _run_stage(run, stage)
            result["stages"][stage] = summary
            if "stopped_at" in summary:
                result["stopped_early"] = True
                break
    except BaseException:
        # failed before its first resume state: nothing to resume, so leave the folder as it
        # was and the same command can run again
        if claim is not None and state_dir(out / RESUME_DIR) is None:
            claim.undo()
        raise
    result["checkpoints"] = dict(run.state["checkpoints"])
    result["stage"] = run.state["stage"]
    result["step"] = run.state["step"]
    result["wall_time_s"] = run.elapsed()
    return result
