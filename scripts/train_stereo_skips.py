"""Train AV-LFE's skip enhancement (``model.stereo_skips``) of a geometry-first stereo
checkpoint, together with its fusion, on stereo training data; the encoder, the mono decoder
and the matcher stay frozen (the mono output without a right view is unchanged).

Step 1 (``--cache``-free: built once into ``OUT/cache.safetensors``): samples of synth-street
crops (seed ``--street-seed``), synth ``geometry`` crops (seed ``--geometry-seed``) and
planar-photo scenes of the training photographs, 192x640, each with the frozen encoder's left
levels, the frozen matcher's aligned right levels 0/1, depth, disparity and confidence, and the
dense ground truth. Step 2: train the enhancer (zero-initialised: it starts as the checkpoint)
and the fusion with |log fused - log gt| plus ``--mono-weight`` x the same on the fusion's
scale-aligned mono depth (the enhanced decoder's own output).

    .venv/bin/python scripts/train_stereo_skips.py --model default --out RUN/skips \
        --samples 600 --steps 3000
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np
import torch

from iid_rdepth_ros.model import build_model
from iid_rdepth_ros.model.checkpoint import load_checkpoint
from iid_rdepth_ros.synth import stereo_pairs as sp
from iid_rdepth_ros.training.losses import log_l1_loss

SIZE = (192, 640)
MAX_DEPTH = 80.0  # validation (the evaluation protocol's cap)
MAX_LOSS_DEPTH = 1000.0  # training: every finite depth (planar scenes have any scale)
KEYS = ("f0", "f1", "f2", "f3", "a0", "a1", "conf", "stereo", "disp", "image", "gt", "scale")


def open_model(a: argparse.Namespace) -> torch.nn.Module:
    """The checkpoint with a (new, zero-initialised) skip enhancer of width ``--hidden``."""
    source, _ = load_checkpoint(a.model)
    if source.matcher is None:
        raise SystemExit(f"{a.model} has no geometry-first stereo path (stereo.enabled)")
    cfg = copy.deepcopy(source.cfg)
    cfg.stereo.skip_hidden = a.hidden
    model = build_model(cfg, variant="full", pretrained_encoder=True)
    missing, unexpected = model.load_state_dict(source.state_dict(), strict=False)
    if unexpected or any(not k.startswith("skips.") for k in missing):
        raise SystemExit(f"state does not fit: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return model.eval()


@torch.no_grad()
def build_cache(model: torch.nn.Module, a: argparse.Namespace) -> dict[str, torch.Tensor]:
    street = sp.SynthStreetPairs(a.street_seed, 100000, sequence_length=5, cache=False)
    geometry = sp.SynthStreetPairs(a.geometry_seed, 100000, sequence_length=5, cache=False,
                                   mode="geometry")
    planar = sp.PlanarPhotoPairs(sp.load_photos(sp.TRAIN_PHOTOS),
                                 max_disparity=model.cfg.stereo.max_disparity)
    rest = 1 - a.street_share - a.geometry_share
    mix = sp.MixedPairs([(street, a.street_share), (geometry, a.geometry_share), (planar, rest)])
    canonical = float(model.cfg.canonical_focal)
    rng = np.random.default_rng(a.seed)
    rows: dict[str, list] = {k: [] for k in KEYS}
    t0 = time.time()
    for i in range(a.samples):
        s = mix.sample(rng, SIZE)
        b = sp.to_batch([s])
        # the matcher in metres at the sample's own focal (planar scenes have no camera)
        f_net = s["fb"] / s["baseline"] if "baseline" in s else canonical
        feats = model.encode(b["left"])
        st = model.matcher(b["left"], b["right"], feats[:2], model.encode(b["right"], levels=2),
                           b["fb"])
        for k, v in (("f0", feats[0]), ("f1", feats[1]), ("f2", feats[2]), ("f3", feats[3]),
                     ("a0", st.aligned_aux[0]), ("a1", st.aligned_aux[1]),
                     ("conf", st.confidence), ("stereo", st.depth), ("disp", st.disparity),
                     ("gt", torch.from_numpy(s["depth"])[None, None])):
            rows[k].append(v.half())
        rows["image"].append((b["left"] * 255).round().to(torch.uint8))
        rows["scale"].append(torch.tensor([f_net / canonical]))
        if i % 50 == 0:
            print(f"cache {i}/{a.samples} {time.time() - t0:.0f}s", flush=True)
    return {k: torch.cat(v) for k, v in rows.items()}


def log_l1(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    return log_l1_loss(torch.log(pred.clamp_min(1e-3)), gt, max_depth=MAX_LOSS_DEPTH)


def forward(model: torch.nn.Module, cache: dict[str, torch.Tensor], idx) -> tuple:
    """(fused depth, scale-aligned enhanced mono depth, gt) for cache rows ``idx``."""
    f = (lambda k: cache[k][idx].float())
    feats = [f("f0"), f("f1"), f("f2"), f("f3")]
    conf, stereo, disp = f("conf"), f("stereo"), f("disp")
    skips = model.skips(feats[:2], [f("a0"), f("a1")], conf)
    mono = model.decode([*skips, *feats[2:]], out_size=SIZE) * f("scale").reshape(-1, 1, 1, 1)
    fused, _ = model.fusion(stereo, conf, mono, f("image") / 255, disp)
    aligned = mono * torch.exp(model.fusion.align_scale(stereo, conf, mono))
    return fused, aligned, f("gt")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="default", help="geometry-first stereo checkpoint")
    p.add_argument("--out", required=True)
    p.add_argument("--hidden", type=int, default=32, help="enhancer width (stereo.skip_hidden)")
    p.add_argument("--samples", type=int, default=600)
    p.add_argument("--street-seed", type=int, default=13)
    p.add_argument("--geometry-seed", type=int, default=23)
    p.add_argument("--street-share", type=float, default=0.4)
    p.add_argument("--geometry-share", type=float, default=0.35)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--fusion-lr", type=float, default=2e-4, help="0 keeps the fusion as it is")
    p.add_argument("--mono-weight", type=float, default=0.5)
    p.add_argument("--max-minutes", type=float, default=0.0, help="stop training after (0: off)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    from safetensors.torch import load_file, save_file

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    model = open_model(a)
    cache_path = out / "cache.safetensors"
    if cache_path.is_file():
        cache = load_file(str(cache_path))
    else:
        cache = build_cache(model, a)
        save_file(cache, str(cache_path))
    n = cache["gt"].shape[0]
    n_val = max(8, n // 10)
    for prm in model.parameters():
        prm.requires_grad_(False)
    groups = [{"params": list(model.skips.parameters()), "lr": a.lr}]
    if a.fusion_lr > 0:
        groups.append({"params": list(model.fusion.parameters()), "lr": a.fusion_lr})
    for g in groups:
        for prm in g["params"]:
            prm.requires_grad_(True)
    opt = torch.optim.AdamW(groups, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, [g["lr"] for g in groups],
                                                total_steps=a.steps, pct_start=0.05)
    rng = np.random.default_rng(a.seed)
    log = (out / "log.jsonl").open("a")

    def validate() -> dict:
        res: dict[str, list] = {"fused": [], "mono_aligned": []}
        with torch.no_grad():
            for i in range(n - n_val, n):
                fused, aligned, gt = forward(model, cache, [i])
                m = (gt > 1e-3) & (gt < MAX_DEPTH)
                if m.any():
                    for k, v in (("fused", fused), ("mono_aligned", aligned)):
                        res[k].append(((v - gt).abs() / gt)[m].mean().item())
        return {k: float(np.mean(v)) for k, v in res.items()}

    print("val before", validate(), flush=True)
    t0 = time.time()
    for step in range(a.steps):
        fused, aligned, gt = forward(model, cache, rng.integers(0, n - n_val, a.batch))
        loss = log_l1(fused, gt) + a.mono_weight * log_l1(aligned, gt)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        last = step == a.steps - 1 or (a.max_minutes and time.time() - t0 > 60 * a.max_minutes)
        if step % 100 == 0 or last:
            rec = {"step": step, "loss": loss.item(), "s": round(time.time() - t0, 1)}
            if step % 500 == 0 or last:
                rec["val_absrel"] = validate()
            log.write(json.dumps(rec) + "\n")
            log.flush()
            print(json.dumps(rec), flush=True)
        if last:
            break
    for name, module in (("skips", model.skips), ("fusion", model.fusion)):
        save_file({k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()},
                  str(out / f"{name}.safetensors"))


if __name__ == "__main__":
    main()
