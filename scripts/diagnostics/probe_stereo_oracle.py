"""Diagnostic (issue 2): what stereo could give here at best.

    python scripts/probe_stereo_oracle.py CHECKPOINT SYNTH_DIR [CANDIDATES WINDOW TEMPERATURE]

On every 5th frame: RMSE of the mono output, of OpenCV SGBM on its valid pixels, of SGBM where
valid and mono elsewhere (an oracle-free upper bound of simple fusion), and of a naive
full-resolution ZNCC plane sweep (soft-argmin / argmax) with a confidence switch to mono.
"""

import math
import sys

import numpy as np
import torch
import torch.nn.functional as F
from probe_common import load_probe, to_tensor

from iid_rdepth_ros.evaluation.sgbm import SgbmMatcher, SgbmParams

model, ds = load_probe(sys.argv[1], sys.argv[2])
sg = SgbmMatcher(SgbmParams())
D = int(sys.argv[3]) if len(sys.argv) > 3 else 64
win = int(sys.argv[4]) if len(sys.argv) > 4 else 5
temp = float(sys.argv[5]) if len(sys.argv) > 5 else 20.0


def gray(x):
    return 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]


def window_mean(x):
    return F.avg_pool2d(x, win, 1, win // 2, count_include_pad=False)


def window_stats(g):
    """Per-pixel mean and standard deviation (+1e-4 variance floor) over the window."""
    m = window_mean(g)
    return m, (window_mean(g * g) - m**2).clamp_min(0).add(1e-4).sqrt()


def zncc_depth(img, aux, fb):
    gl, gr = gray(img), gray(aux)
    h, w = gl.shape[-2:]
    inv = torch.exp(-torch.linspace(math.log(80.0), math.log(2.0), D))
    disp = fb * inv
    xs = torch.arange(w).float()
    # ZNCC: mean over window of product of normalised (per-window) intensities
    m_l, s_l = window_stats(gl)
    gy = ((2 * torch.arange(h).float() + 1) / h - 1)[:, None].expand(h, w)
    costs = []
    for d in disp.tolist():
        gx = (2 * (xs - d) + 1) / w - 1
        grid = torch.stack([gx.expand(h, w), gy], -1)[None]
        sh = F.grid_sample(gr, grid, mode="bilinear", padding_mode="border", align_corners=False)
        m_r, s_r = window_stats(sh)
        cov = window_mean(gl * sh) - m_l * m_r
        costs.append(cov / (s_l * s_r))
    cv = torch.cat(costs, 1)  # (1, D, h, w)
    p = torch.softmax(cv * temp, 1)
    invd = (p * inv.reshape(1, -1, 1, 1)).sum(1)[0]
    am = inv[cv.argmax(1)[0]]
    return 1 / invd, 1 / am, p.amax(1)[0], cv.amax(1)[0]


acc = {
    k: []
    for k in [
        "mono",
        "full",
        "sgbm_valid",
        "sgbm_or_mono",
        "zncc_soft",
        "zncc_arg",
        "zncc_conf_or_mono",
        "mono_on_sgbmvalid",
    ]
}
cov = []
for i in range(0, len(ds), 5):
    it = ds[i]
    img = to_tensor(it["image"])
    aux = to_tensor(it["aux"])
    gt = it["depth"]
    v = (gt > 1e-3) & (gt < 80)
    fb = it["fx"] * it["baseline_m"]
    with torch.no_grad():
        mono = np.clip(model(img).numpy()[0, 0], 1e-3, 80)
        zs, za, pc, pk = zncc_depth(img, aux, fb)
    zs, za = np.clip(zs.numpy(), 1e-3, 80), np.clip(za.numpy(), 1e-3, 80)
    sd = sg.depth(it["image"], it["aux"], it["fx"], it["baseline_m"])
    sv = np.isfinite(sd) & v
    sdc = np.clip(np.nan_to_num(sd, nan=1), 1e-3, 80)
    acc["mono"].append((mono - gt)[v] ** 2)
    acc["sgbm_valid"].append((sdc - gt)[sv] ** 2)
    acc["mono_on_sgbmvalid"].append((mono - gt)[sv] ** 2)
    acc["sgbm_or_mono"].append((np.where(sv, sdc, mono) - gt)[v] ** 2)
    acc["zncc_soft"].append((zs - gt)[v] ** 2)
    acc["zncc_arg"].append((za - gt)[v] ** 2)
    conf = pk.numpy() > 0.8
    acc["zncc_conf_or_mono"].append((np.where(conf, zs, mono) - gt)[v] ** 2)
    cov.append(conf[v].mean())
for k, x in acc.items():
    if x:
        print(k, round(float(np.sqrt(np.concatenate(x).mean())), 3))
print("zncc conf coverage", np.mean(cov))
