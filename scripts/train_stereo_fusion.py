"""Train ``StereoMonoFusion`` on top of a frozen trained matcher and a frozen mono model.

Step 1 (``--cache``): build a cache of full 192x640 samples: synth-street frames (seed
``--street-seed``, never the project's 1/2/3/5), synth ``geometry`` crops (random cameras,
near-range scenes; seed ``--geometry-seed``; the test splits are salted apart) and
planar-photo scenes from the training photographs, each with the frozen matcher's depth and
confidence, the mono network's metric depth (``--mono``, run without the right view) and
the dense ground truth. Step 2: train the fusion (a few thousand parameters) on the cache with |log
fused - log gt| over valid pixels.

    .venv/bin/python scripts/train_stereo_fusion.py --matcher RUN/matcher.safetensors \
        --out RUN/fusion --samples 480 --steps 1500
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from iid_rdepth_ros.model.checkpoint import load_checkpoint
from iid_rdepth_ros.model.stereo_fusion import StereoMonoFusion
from iid_rdepth_ros.model.stereo_matcher import StereoMatcher
from iid_rdepth_ros.synth import stereo_pairs as sp
from iid_rdepth_ros.training.losses import log_l1_loss

MAX_DEPTH = 80.0  # validation (the evaluation protocol's cap)
MAX_LOSS_DEPTH = 1000.0  # training: every finite depth (planar scenes have any scale)


@torch.no_grad()
def build_cache(a: argparse.Namespace) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    device = torch.device(a.device)
    mono, _ = load_checkpoint(a.mono)
    mono.to(device).eval()
    canonical = float(mono.cfg.canonical_focal)
    matcher = StereoMatcher.from_state_dict(load_file(a.matcher),
                                            max_disparity=a.max_disp).eval()
    matcher.to(device)
    street = sp.SynthStreetPairs(a.street_seed, 100000, sequence_length=5, cache=False)
    geometry = sp.SynthStreetPairs(a.geometry_seed, 100000, sequence_length=5, cache=False,
                                   mode="geometry")
    planar = sp.PlanarPhotoPairs(sp.load_photos(sp.TRAIN_PHOTOS), max_disparity=a.max_disp)
    rng = np.random.default_rng(a.seed)
    rows: dict[str, list] = {k: [] for k in ("image", "stereo", "conf", "mono", "gt", "disp")}
    t0 = time.time()
    shares = np.array([a.street_share, a.geometry_share, 1 - a.street_share - a.geometry_share])
    for i in range(a.samples):
        kind = rng.choice(3, p=shares)
        if kind == 0:
            s = street.full(int(rng.integers(100000)))
        elif kind == 1:
            s = geometry.sample(rng, (192, 640))
        else:
            s = planar.sample(rng, (192, 640))
        # planar scenes have no camera: any scene scale, the fusion's alignment must cope
        f_net = s["fb"] / s["baseline"] if "baseline" in s else canonical
        if rng.uniform() < 0.8:
            s = sp.photometric(rng, s)
        b = {k: v.to(device) if isinstance(v, torch.Tensor) else v
             for k, v in sp.to_batch([s]).items()}
        lf = mono.encode(b["left"])
        rf = mono.encode(b["right"], levels=2)
        out = matcher(b["left"], b["right"], lf[:2], rf, b["fb"], a.max_disp)
        m = mono.decode(lf, None, None, None, out_size=(192, 640)) * (f_net / canonical)
        gt = torch.from_numpy(s["depth"])[None, None]
        rows["image"].append((b["left"] * 255).round().to(torch.uint8).cpu())
        rows["stereo"].append(out.depth.half().cpu())
        rows["conf"].append(out.confidence.half().cpu())
        rows["disp"].append(out.disparity.half().cpu())
        rows["mono"].append(m.half().cpu())
        rows["gt"].append(gt.half())
        if i % 50 == 0:
            print(f"cache {i}/{a.samples} {time.time() - t0:.0f}s", flush=True)
    return {k: torch.cat(v) for k, v in rows.items()}


def log_loss(pred: torch.Tensor, gt: torch.Tensor, sq_weight: float = 0.0) -> torch.Tensor:
    """``training.losses.log_l1_loss`` of a depth over every finite ground truth, with
    ``sq_weight`` x the mean squared log error."""
    return log_l1_loss(torch.log(pred.clamp_min(1e-3)), gt, max_depth=MAX_LOSS_DEPTH,
                       sq_weight=sq_weight)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--matcher", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--mono", default="default")
    p.add_argument("--max-disp", type=int, default=192)
    p.add_argument("--samples", type=int, default=480)
    p.add_argument("--street-seed", type=int, default=13)
    p.add_argument("--geometry-seed", type=int, default=23)
    p.add_argument("--street-share", type=float, default=0.5)
    p.add_argument("--geometry-share", type=float, default=0.0)
    p.add_argument("--local", type=int, default=0,
                   help="window of the locally scaled mono candidate (StereoMonoFusion local; "
                        "stride-4 pixels, odd; 0 = none)")
    p.add_argument("--blocks", type=int, default=2,
                   help="residual blocks of the fusion's weight network (0..2)")
    p.add_argument("--sq-weight", type=float, default=0.0,
                   help="weight of the squared log error beside the absolute one")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu", help="torch device of the cache's forward passes "
                   "and of the training (cpu, cuda)")
    a = p.parse_args()
    from safetensors.torch import load_file, save_file

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    cache_path = out / "cache.safetensors"
    if cache_path.is_file():
        cache = load_file(str(cache_path))
    else:
        cache = build_cache(a)
        save_file(cache, str(cache_path))
    n = cache["gt"].shape[0]
    n_val = max(8, n // 10)
    device = torch.device(a.device)
    cache = {k: v.to(device) for k, v in cache.items()}
    fusion = StereoMonoFusion(local=a.local, blocks=a.blocks).to(device).train()
    opt = torch.optim.AdamW(fusion.parameters(), lr=a.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, a.lr, total_steps=a.steps, pct_start=0.05)
    rng = np.random.default_rng(a.seed)
    log = (out / "log.jsonl").open("a")

    def batch(idx):
        f = (lambda k: cache[k][idx].float())
        return (f("image") / 255, f("stereo"), f("conf"), f("mono").clamp_min(1e-3), f("gt"),
                f("disp"))

    def validate() -> dict:
        fusion.eval()
        res = {"fused": [], "stereo": [], "mono_aligned": []}
        with torch.no_grad():
            for i in range(n - n_val, n):
                img, st, cf, mo, gt, dp = batch([i])
                fused, _ = fusion(st, cf, mo, img, dp)
                mono_al = mo * torch.exp(fusion.align_scale(st, cf, mo))
                m = (gt > 1e-3) & (gt < MAX_DEPTH)
                if not m.any():
                    continue
                for k, v in (("fused", fused), ("stereo", st), ("mono_aligned", mono_al)):
                    res[k].append(((v - gt).abs() / gt)[m].mean().item())
        fusion.train()
        return {k: float(np.mean(v)) for k, v in res.items()}

    print("val before", validate(), flush=True)
    t0 = time.time()
    for step in range(a.steps):
        idx = rng.integers(0, n - n_val, a.batch)
        img, st, cf, mo, gt, dp = batch(idx)
        fused, _ = fusion(st, cf, mo, img, dp)
        loss = log_loss(fused, gt, a.sq_weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0 or step == a.steps - 1:
            rec = {"step": step, "loss": loss.item(), "s": round(time.time() - t0, 1)}
            if step % 500 == 0 or step == a.steps - 1:
                rec["val_absrel"] = validate()
            log.write(json.dumps(rec) + "\n")
            log.flush()
            print(json.dumps(rec), flush=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in fusion.state_dict().items()},
              str(out / "fusion.safetensors"))


if __name__ == "__main__":
    main()
