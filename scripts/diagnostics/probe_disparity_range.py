"""Stereo matcher error by ground-truth disparity, on planar scenes of the training
photographs (the training script's planar validation kind; never the evaluation photographs):
end-point error of the final disparity and of the s8 search, per disparity range.

    .venv/bin/python scripts/diagnostics/probe_disparity_range.py \
        --matcher /work/scratch/stereo/runs/r4/matcher.safetensors --size 192x640

Non-occluded pixels whose partner is inside the right view, with ground truth inside the search
range. Finding (2026-12-04, shipped matcher r4, 192x640, 12 scenes): EPE 0.34 px below 8 px,
0.52 px at 8-32 px, 7.28 px at 32-64 px, 9.07 px at 64-128 px, and every pixel above 128 px
wrong (EPE 118 px); the s8 search is already wrong there (s8 bad-8 26-32 %, 100 %).
A fine-tune towards large disparities (r5: 5000 steps from r4, 128x512 crops, planar scenes'
largest disparity log-uniform from 16 px) helped at 8-64 px (0.29 / 5.48 px) and hurt at
64-128 px (22.6 px): not shipped.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F

from iid_rdepth_ros.model.encoder import build_encoder
from iid_rdepth_ros.model.presets import get_preset
from iid_rdepth_ros.model.stereo_matcher import StereoMatcher, StereoMatcherConfig
from iid_rdepth_ros.synth import stereo_pairs as sp

BINS = ((0, 8), (8, 32), (32, 64), (64, 128), (128, 193))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--matcher", required=True, help="matcher state (.safetensors)")
    p.add_argument("--size", default="192x640")
    p.add_argument("--frames", type=int, default=12)
    p.add_argument("--seed", type=int, default=778)
    p.add_argument("--max-disp", type=int, default=192)
    a = p.parse_args()
    from safetensors.torch import load_file

    torch.set_num_threads(2)
    size = tuple(int(v) for v in a.size.lower().split("x"))
    cfg = get_preset("lite0-192x640")
    encoder = build_encoder(cfg.encoder, cfg.input_size, pretrained=True).eval()
    matcher = StereoMatcher(StereoMatcherConfig(max_disparity=a.max_disp))
    matcher.load_state_dict(load_file(a.matcher))
    matcher.eval()
    planar = sp.PlanarPhotoPairs(sp.load_photos(sp.TRAIN_PHOTOS), max_disparity=a.max_disp)
    rng = np.random.default_rng(a.seed)
    final, coarse, truth = [], [], []
    for _ in range(a.frames):
        batch = sp.to_batch([planar.sample(rng, size)])
        with torch.no_grad():
            lf, rf = encoder(batch["left"], levels=2), encoder(batch["right"], levels=2)
            out = matcher(batch["left"], batch["right"], lf, rf, batch["fb"], a.max_disp)
        gt = batch["disparity"][0, 0].numpy()
        inside = np.arange(gt.shape[1])[None, :] - gt >= 0  # the partner is in the right view
        keep = (batch["valid"][0, 0].numpy() & (gt <= a.max_disp)
                & ~batch["occluded"][0, 0].numpy() & inside)
        d8 = F.interpolate(out.stages[0], size=gt.shape, mode="bilinear")[0, 0].numpy()
        final.append(np.abs(out.disparity[0, 0].numpy() - gt)[keep])
        coarse.append(np.abs(d8 - gt)[keep])
        truth.append(gt[keep])
    e, e8, g = (np.concatenate(x) for x in (final, coarse, truth))
    print(f"{a.matcher}, {a.size}, {a.frames} scenes (seed {a.seed})")
    print("| gt disparity px | pixels | EPE px | bad-3 | s8 EPE px | s8 bad-8 |")
    print("|---|---:|---:|---:|---:|---:|")
    for lo, hi in BINS:
        k = (g >= lo) & (g < hi)
        if k.any():
            print(f"| {lo}-{hi} | {int(k.sum())} | {e[k].mean():.2f} | {(e[k] > 3).mean():.3f} "
                  f"| {e8[k].mean():.2f} | {(e8[k] > 8).mean():.3f} |")


if __name__ == "__main__":
    main()
