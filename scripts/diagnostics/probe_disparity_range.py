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

``--warps`` adds one photograph warped by known disparity fields: a constant shift is matched
within 1 px on 85-90 % of the pixels (bad-3 6-10 %) at every disparity from 8 to 150 px (180
px: 77 %, 20 %), so the range itself is not the limit. A disparity growing down the image (a
ground plane) is harder: 8->40 px 89 % / 7 %, 40->120 px 75 % / 17 %, 60->180 px 66 % / 21 %.
The planar scenes' large disparities (49 % bad-3 at 64-128 px) are small near layers with
large occlusions, and slanted planes near the camera.

``--layers`` puts a textured layer of a given width over a background at 16 px: at 40 px a
24 px wide layer is matched within 1 px on 92 % of its pixels, at 100 px it is lost (0 %; 48 px
wide: 46 %, 96 px: 92 %, 192 px: 96 %). A layer narrower than its shift against the background
fails: the s8 features see the background around it, which moves differently.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F

from iid_rdepth_ros.model.encoder import build_encoder
from iid_rdepth_ros.model.presets import get_preset
from iid_rdepth_ros.model.stereo_matcher import StereoMatcher
from iid_rdepth_ros.synth import stereo_pairs as sp

BINS = ((0, 8), (8, 32), (32, 64), (64, 128), (128, 193))
#: disparity at the top and bottom row of a warped photograph (linear in between)
WARPS = ((8, 8), (48, 48), (120, 120), (150, 150), (180, 180), (8, 40), (40, 120), (60, 180))


def warps(matcher, encoder, max_disp: int, size: tuple[int, int]) -> None:
    """A photograph and its right view warped by a known disparity field per row."""
    import cv2

    h, w = size
    photo = next(iter(sp.load_photos(sp.TRAIN_PHOTOS).values()))
    canvas = cv2.resize(photo, (w + max_disp + 8, h)).astype(np.float32)
    print("| disparity top -> bottom px | EPE px | within 1 px | bad-3 |")
    print("|---|---:|---:|---:|")
    for top, bottom in WARPS:
        d = np.linspace(top, bottom, h, dtype=np.float32)
        xs = np.arange(w, dtype=np.float32)[None, :] + d[:, None]  # right x shows left x + d
        ys = np.repeat(np.arange(h, dtype=np.float32)[:, None], w, 1)
        right = cv2.remap(canvas, xs, ys, cv2.INTER_LINEAR)
        left, right = (torch.from_numpy(v.transpose(2, 0, 1)[None] / 255.0).float()
                       for v in (canvas[:, :w], right))
        with torch.no_grad():
            out = matcher(left, right, encoder(left, levels=2), encoder(right, levels=2),
                          torch.tensor([100.0]), max_disp)
        gt = np.repeat(d[:, None], w, 1)
        err = np.abs(out.disparity[0, 0].numpy() - gt)[np.arange(w)[None, :] >= gt + 8]
        print(f"| {top} -> {bottom} | {err.mean():.2f} | {(err < 1).mean():.3f} | "
              f"{(err > 3).mean():.3f} |")


#: (object width px, object disparity px) of the layer test; the background sits at 16 px
LAYERS = tuple((wo, do) for do in (40, 100) for wo in (24, 48, 96, 192))


def layers(matcher, encoder, max_disp: int, size: tuple[int, int]) -> None:
    """A textured near layer of a given width over a far background: end-point error on the
    layer's own pixels (all visible in the right view), by width and disparity."""
    import cv2

    h, w = size
    photos = list(sp.load_photos(sp.TRAIN_PHOTOS).values())
    background = cv2.resize(photos[0], (w + max_disp + 8, h)).astype(np.float32)
    layer = cv2.resize(photos[1], (w, h)).astype(np.float32)
    d_bg, x0 = 16, w // 2
    print("| layer width px | layer disparity px | EPE px | within 1 px | bad-3 |")
    print("|---:|---:|---:|---:|---:|")
    for wo, do in LAYERS:
        left = background[:, :w].copy()
        left[:, x0:x0 + wo] = layer[:, x0:x0 + wo]
        right = background[:, d_bg:d_bg + w].copy()  # right(x) = left(x + d_bg) for the far part
        right[:, x0 - do:x0 - do + wo] = layer[:, x0:x0 + wo]
        left_t, right_t = (torch.from_numpy(v.transpose(2, 0, 1)[None] / 255.0).float()
                           for v in (left, right))
        with torch.no_grad():
            out = matcher(left_t, right_t, encoder(left_t, levels=2),
                          encoder(right_t, levels=2), torch.tensor([100.0]), max_disp)
        err = np.abs(out.disparity[0, 0, :, x0:x0 + wo].numpy() - do)
        print(f"| {wo} | {do} | {err.mean():.2f} | {(err < 1).mean():.3f} | "
              f"{(err > 3).mean():.3f} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--matcher", required=True, help="matcher state (.safetensors)")
    p.add_argument("--size", default="192x640")
    p.add_argument("--frames", type=int, default=12)
    p.add_argument("--seed", type=int, default=778)
    p.add_argument("--max-disp", type=int, default=192)
    p.add_argument("--warps", action="store_true",
                   help="also a photograph warped by known disparity fields (module docstring)")
    p.add_argument("--layers", action="store_true",
                   help="also near layers of several widths over a far background")
    a = p.parse_args()
    from safetensors.torch import load_file

    torch.set_num_threads(2)
    size = tuple(int(v) for v in a.size.lower().split("x"))
    cfg = get_preset("lite0-192x640")
    encoder = build_encoder(cfg.encoder, cfg.input_size, pretrained=True).eval()
    matcher = StereoMatcher.from_state_dict(load_file(a.matcher), max_disparity=a.max_disp)
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
    if a.warps:
        warps(matcher, encoder, a.max_disp, size)
    if a.layers:
        layers(matcher, encoder, a.max_disp, size)


if __name__ == "__main__":
    main()
