"""Train the learned stereo matcher (``model.stereo_matcher.StereoMatcher``) on CPU or a GPU.

Frozen EfficientNet-Lite0 levels 0/1 of both views; only the matcher learns. Data: a mix of
synth-street frames (random resize = other focal lengths, random crop) and layered
piecewise-planar scenes textured with scikit-image photographs / procedural textures
(``synth.stereo_pairs``), with photometric differences between the views and sub-pixel
vertical misalignment. The evaluation photographs (``EVAL_PHOTOS``, ``UNSEEN_PHOTOS``) are
never used here.

Loss (all against dense ground-truth disparity in input pixels, pixels with gt <= max_disp):
  smooth-L1 (``--beta``) at full resolution on the final disparity (weight 1) and on the
  s2 / s4 / s8 estimates upsampled bilinearly (0.6 / 0.4 / 0.2), + ``log_weight`` x
  |log((d + 1) / (gt + 1))| on the final disparity (relative accuracy at small disparities = far
  range), + a
  cross-entropy of the s8 matching distribution against the two-hot ground truth
  (``ce_weight``), + BCE of the confidence against "|error| < min(1, 0.05 gt + 0.1) px"
  (``conf_weight``).

Example::

    .venv/bin/python scripts/train_stereo_matcher.py --out /work/scratch/stereo/runs/r1 \
        --steps 3000 --batch 6 --crop 128x320

On a GPU (``--device cuda``; float32 with cuDNN's TF32 convolutions: sub-pixel regression is
what this network is for, so ``--amp bf16`` is an option, not the default), data from
``--workers`` processes, e.g. from the shipped matcher::

    python scripts/train_stereo_matcher.py --device cuda --workers 12 --init default \
        --crop 192x640 --batch 8 --steps 20000 --max-minutes 6 --out run
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from iid_rdepth_ros.model.config import STEREO_COSTS2
from iid_rdepth_ros.model.encoder import build_encoder
from iid_rdepth_ros.model.presets import get_preset
from iid_rdepth_ros.model.stereo_matcher import (
    REFINE1_MODULES,
    StereoMatcher,
    StereoMatcherConfig,
    image_branch_width,
    refines_full_resolution,
    s2_layout,
)
from iid_rdepth_ros.synth import stereo_pairs as sp


def conf_target(disp: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Confidence label: the disparity error is below min(1 px, 5 % of gt + 0.1 px)."""
    tol = torch.clamp(0.05 * gt + 0.1, max=1.0)
    return ((disp - gt).abs() < tol).float()


def matcher_loss(out, gt: torch.Tensor, valid: torch.Tensor, max_disp: int,
                 log_weight: float = 2.0, ce_weight: float = 0.3, conf_weight: float = 0.2,
                 logits8: torch.Tensor | None = None, beta: float = 1.0
                 ) -> tuple[torch.Tensor, dict]:
    mask = (valid & (gt <= max_disp) & (gt >= 0)).float()
    n = mask.sum().clamp_min(1.0)
    size = gt.shape[-2:]

    def sl1(d: torch.Tensor) -> torch.Tensor:
        if d.shape[-2:] != size:
            d = F.interpolate(d, size=size, mode="bilinear", align_corners=False)
        return (F.smooth_l1_loss(d, gt, reduction="none", beta=beta) * mask).sum() / n

    d = out.disparity
    terms = {"full": sl1(d)}
    for name, w, est in zip(("s8", "s4", "s2"), (0.2, 0.4, 0.6), out.stages, strict=True):
        terms[name] = w * sl1(est)
    terms["log"] = log_weight * ((torch.log((d + 1) / (gt + 1))).abs() * mask).sum() / n
    target = conf_target(d.detach(), gt)
    bce = F.binary_cross_entropy_with_logits(out.confidence_logit, target, reduction="none")
    terms["conf"] = conf_weight * (bce * mask).sum() / n
    if logits8 is not None and ce_weight > 0:
        g8 = F.interpolate(gt / 8.0, size=logits8.shape[-2:], mode="nearest")
        m8 = F.interpolate(mask, size=logits8.shape[-2:], mode="nearest")
        dcount = logits8.shape[1]
        k = torch.arange(dcount, dtype=gt.dtype, device=gt.device).reshape(1, dcount, 1, 1)
        two_hot = (1 - (k - g8).abs()).clamp_min(0)  # linear interpolation weights
        logp = torch.log_softmax(logits8, dim=1)
        ce = -(two_hot * logp).sum(1, keepdim=True)
        terms["ce8"] = ce_weight * (ce * m8).sum() / m8.sum().clamp_min(1.0)
    total = sum(terms.values())
    return total, {k: float(v) for k, v in terms.items()}


class PairStream(torch.utils.data.IterableDataset):
    """Endless batches from ``MixedPairs`` (one worker process builds them)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args

    def __iter__(self):
        import cv2

        cv2.setNumThreads(1)
        torch.set_num_threads(1)
        a = self.args
        info = torch.utils.data.get_worker_info()
        seed = a.seed * 1000 + (info.id if info else 0)
        rng = np.random.default_rng(seed)
        sources = make_sources(a)
        size = a.crop
        while True:
            yield sp.to_batch([sources.sample(rng, size) for _ in range(a.batch)])


def make_sources(a: argparse.Namespace) -> sp.MixedPairs:
    street = sp.SynthStreetPairs(a.street_seed, a.street_frames, sequence_length=5)
    planar = sp.PlanarPhotoPairs(sp.load_photos(sp.TRAIN_PHOTOS), max_disparity=a.max_disp,
                                 min_range=a.planar_min_range)
    geometry = sp.SynthStreetPairs(a.geometry_seed, a.street_frames, sequence_length=5,
                                   mode="geometry")
    rest = 1 - a.street_prob - a.geometry_prob
    return sp.MixedPairs([(street, a.street_prob), (geometry, a.geometry_prob), (planar, rest)],
                         photometric_prob=0.8)


def to_device(batch: dict, device: torch.device) -> dict:
    """The batch's tensors on ``device`` (other entries as they are)."""
    return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v
            for k, v in batch.items()}


def initial_state(init: str) -> dict[str, torch.Tensor]:
    """A matcher state: a ``.safetensors`` of it, or the ``matcher.*`` entries of a model
    checkpoint (``default``, a path)."""
    from safetensors.torch import load_file

    if init.endswith(".safetensors") and Path(init).is_file():
        state = load_file(init)
        if not any(k.startswith("matcher.") for k in state):
            return state
    else:
        from iid_rdepth_ros.model.checkpoint import load_checkpoint

        model, _ = load_checkpoint(init)
        if model.matcher is None:
            raise SystemExit(f"{init} has no stereo matcher")
        return model.matcher.state_dict()
    return {k[len("matcher."):]: v for k, v in state.items() if k.startswith("matcher.")}


def cpu_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}


def load_initial(matcher: StereoMatcher, state: dict[str, torch.Tensor]) -> None:
    """Load ``state``; a matcher with the image branch or the full-resolution refinement takes
    a state without them (their own weights stay as built: the branch's inputs to the s8
    features and the refinement's output start at zero). A matcher with grey s2 costs or
    fewer s2 blocks takes a state with feature costs or more blocks: what fits is kept."""
    key = "feat8.0.0.weight"
    new = set()
    if matcher.cfg.image8 and not image_branch_width(state):
        weight = matcher.feat8[0][0].weight.detach().clone()
        weight[:, :state[key].shape[1]] = state[key]
        state = {**state, key: weight}
        new.add("img8.")
    if matcher.cfg.refine1 and not refines_full_resolution(state):
        new.update(REFINE1_MODULES)
    if matcher.cfg.cost2 == "grey" and "in2.0.weight" in state:
        # the s2 input convolution keeps its context channels; the grey costs start at zero
        old, bias = state["in2.0.weight"], state["in2.0.bias"]
        weight = torch.zeros_like(matcher.in2g[0].weight)
        context = weight.shape[1] - (2 * matcher.cfg.radius2 + 1)
        weight[:, -context:] = old[:, -context:]
        state = {k: v for k, v in state.items() if not k.startswith("in2.")}
        state.update({"in2g.0.weight": weight, "in2g.0.bias": bias})
    if matcher.cfg.blocks2 < s2_layout(state)["blocks2"]:  # fewer s2 blocks: drop the last
        state = {k: v for k, v in state.items()
                 if not k.startswith(f"res2.{matcher.cfg.blocks2}.")}
    missing, unexpected = matcher.load_state_dict(state, strict=not new)
    if unexpected or any(not k.startswith(tuple(new)) for k in missing):
        raise SystemExit(f"--init does not fit: missing {missing}, unexpected {unexpected}")


def parse_size(text: str) -> tuple[int, int]:
    h, w = text.lower().split("x")
    return int(h), int(w)


def validation_set(a: argparse.Namespace) -> list[dict]:
    """Fixed validation batches: synth-street seed ``val_seed`` (full frames) and planar
    scenes from the training photographs with a fixed generator seed (unseen samples)."""
    rng = np.random.default_rng(777)
    street = sp.SynthStreetPairs(a.val_seed, 1000, sequence_length=5)
    planar = sp.PlanarPhotoPairs(sp.load_photos(sp.TRAIN_PHOTOS), max_disparity=a.max_disp)
    out = []
    for i in range(a.val_frames):
        s = street.full(i * 7)
        out.append(sp.to_batch([sp.photometric(rng, s, strength=0.5)]))
    for _ in range(a.val_frames):
        s = planar.sample(rng, (192, 640))
        out.append(sp.to_batch([sp.photometric(rng, s, strength=0.5)]))
    return out


@torch.no_grad()
def evaluate(matcher, encoder, batches, max_disp) -> dict:
    """Validation in float32 (as the model is deployed), whatever the training precision."""
    matcher.eval()
    stats: dict[str, list] = {}
    for b in batches:
        lf, rf = encoder(b["left"], levels=2), encoder(b["right"], levels=2)
        out = matcher(b["left"], b["right"], lf, rf, b["fb"], max_disp)
        gt, valid = b["disparity"], b["valid"] & (b["disparity"] <= max_disp)
        err = (out.disparity - gt).abs()[valid]
        src = b["source"][0].split("-")[0]
        gt_depth = b["fb"].reshape(-1, 1, 1, 1) / gt.clamp_min(1e-6)
        pos = valid & (gt > 0) & (gt_depth < 80)
        rel = ((out.depth - gt_depth).abs() / gt_depth)[pos]  # depth AbsRel
        s = stats.setdefault(src, [])
        s.append([err.mean().item(), (err > 1).float().mean().item(),
                  (err > 3).float().mean().item(),
                  rel.mean().item(),
                  out.confidence[valid].mean().item()])
    matcher.train()
    res = {}
    for src, rows in stats.items():
        m = np.mean(rows, axis=0)
        res[src] = {"epe": m[0], "bad1": m[1], "bad3": m[2], "depth_absrel": m[3], "conf": m[4]}
    return res


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=6)
    p.add_argument("--crop", type=parse_size, default=(128, 320))
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup", type=int, default=150)
    p.add_argument("--max-disp", type=int, default=192)
    p.add_argument("--street-prob", type=float, default=0.5)
    p.add_argument("--street-seed", type=int, default=11)
    p.add_argument("--geometry-prob", type=float, default=0.0,
                   help="share of synth geometry-mode crops (random cameras, near range)")
    p.add_argument("--geometry-seed", type=int, default=21)
    p.add_argument("--planar-min-range", type=float, default=2.0,
                   help="planar scenes draw their largest disparity log-uniform in "
                        "[this, max-disp]: larger = more large-disparity scenes")
    p.add_argument("--street-frames", type=int, default=1000)
    p.add_argument("--val-seed", type=int, default=12)
    p.add_argument("--val-frames", type=int, default=12)
    p.add_argument("--val-every", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--log-weight", type=float, default=2.0)
    p.add_argument("--ce-weight", type=float, default=0.3)
    p.add_argument("--conf-weight", type=float, default=0.2)
    p.add_argument("--beta", type=float, default=1.0,
                   help="smooth-L1 transition (px); small = L1, pushes sub-pixel precision")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--init", default=None,
                   help="start from this matcher state (.safetensors), or the matcher of a "
                        "model checkpoint ('default', a checkpoint path)")
    p.add_argument("--image8", type=int, default=0,
                   help="channels of the shallow image branch in the s8 features (0 = none); "
                        "added to an --init matcher without it, starting as a no-op")
    p.add_argument("--refine1", action="store_true",
                   help="with the full-resolution refinement (StereoMatcherConfig.refine1), "
                        "added at zero to an --init without it")
    p.add_argument("--cost2", choices=STEREO_COSTS2, default="features",
                   help="what the s2 refinement matches (StereoMatcherConfig.cost2)")
    p.add_argument("--blocks2", type=int, default=2, help="residual blocks at s2 (1 or 2)")
    p.add_argument("--train-only", default=None,
                   help="comma-separated module names that train (e.g. ctx1,in1,res1,out1); "
                        "default: the whole matcher")
    p.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:N")
    p.add_argument("--amp", choices=("off", "bf16"), default="off",
                   help="bf16 autocast of the forward pass (CUDA)")
    p.add_argument("--max-minutes", type=float, default=45.0)
    a = p.parse_args()
    t0 = time.time()

    from safetensors.torch import save_file

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    device = torch.device(a.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    amp = (torch.autocast(device.type, dtype=torch.bfloat16) if a.amp == "bf16"
           else contextlib.nullcontext())
    out_dir = Path(a.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg = get_preset("lite0-192x640")
    encoder = build_encoder(cfg.encoder, cfg.input_size, pretrained=True).to(device).eval()
    mcfg = StereoMatcherConfig(max_disparity=a.max_disp, image8=a.image8, refine1=a.refine1,
                               cost2=a.cost2, blocks2=a.blocks2)
    matcher = StereoMatcher(mcfg)
    if a.init:
        load_initial(matcher, initial_state(a.init))
    matcher.to(device).train()
    if a.train_only:
        names = tuple(f"{n.strip()}." for n in a.train_only.split(",") if n.strip())
        for name, prm in matcher.named_parameters():
            prm.requires_grad_(name.startswith(names))
    trainable = [prm for prm in matcher.parameters() if prm.requires_grad]
    if not trainable:
        raise SystemExit(f"--train-only {a.train_only!r} names no parameter of the matcher")
    opt = torch.optim.AdamW(trainable, lr=a.lr, weight_decay=1e-4)

    def lr_at(step: int) -> float:
        """Warm-up, then cosine over the run's progress: the larger of the step fraction and
        the wall-clock fraction (the shared CPU's speed varies, the time budget does not)."""
        if step < a.warmup:
            return a.lr * (step + 1) / a.warmup
        t = max((step - a.warmup) / max(1, a.steps - a.warmup),
                (time.time() - t0) / 60 / a.max_minutes)
        return a.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))

    stream = torch.utils.data.DataLoader(PairStream(a), batch_size=None,
                                         num_workers=a.workers, prefetch_factor=2
                                         if a.workers else None, persistent_workers=False,
                                         multiprocessing_context="spawn" if a.workers else None,
                                         pin_memory=device.type == "cuda")
    val = [to_device(b, device) for b in validation_set(a)]
    (out_dir / "args.json").write_text(json.dumps(vars(a), default=str, indent=1))
    log = (out_dir / "log.jsonl").open("a")
    running: dict[str, float] = {}
    step = 0
    for step, batch in enumerate(stream):
        if step >= a.steps or (time.time() - t0) / 60 > a.max_minutes:
            break
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        batch = to_device(batch, device)
        with amp:
            with torch.no_grad():
                lf = encoder(batch["left"], levels=2)
                rf = encoder(batch["right"], levels=2)
            out = matcher(batch["left"], batch["right"], lf, rf, batch["fb"], a.max_disp)
        loss, terms = matcher_loss(out, batch["disparity"], batch["valid"], a.max_disp,
                                   a.log_weight, a.ce_weight, a.conf_weight, out.cost_logits,
                                   a.beta)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        opt.step()
        for k, v in terms.items():
            running[k] = running.get(k, v) * 0.95 + 0.05 * v
        if step % 25 == 0:
            rec = {"step": step, "min": round((time.time() - t0) / 60, 2), "lr": lr_at(step),
                   "loss": float(loss), "grad_norm": float(gn),
                   **{k: round(v, 4) for k, v in running.items()}}
            log.write(json.dumps(rec) + "\n")
            log.flush()
            print(json.dumps(rec), flush=True)
        if (step + 1) % a.val_every == 0:
            res = evaluate(matcher, encoder, val, a.max_disp)
            rec = {"step": step + 1, "min": round((time.time() - t0) / 60, 2), "val": res}
            log.write(json.dumps(rec) + "\n")
            log.flush()
            print(json.dumps(rec), flush=True)
            save_file(cpu_state(matcher), str(out_dir / "matcher.safetensors"))
    save_file(cpu_state(matcher), str(out_dir / "matcher.safetensors"))
    res = evaluate(matcher, encoder, val, a.max_disp)
    rec = {"step": step, "min": round((time.time() - t0) / 60, 2), "val": res, "final": True}
    log.write(json.dumps(rec) + "\n")
    print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main()
