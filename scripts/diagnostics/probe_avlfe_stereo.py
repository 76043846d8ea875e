"""Diagnostic (issue 2): how good is AV-LFE's own stereo depth (level 0, stride 4)?

    python scripts/probe_avlfe_stereo.py CHECKPOINT SYNTH_DIR [THREADS]

Prints RMSE of the stereo depth AV-LFE hands to the bin head (every 4th frame, GT sampled at
stride 4), of the mono and stereo outputs, and the learned prior weight / temperature.
"""

import sys

import numpy as np
import torch
from probe_common import load_probe, to_tensor

from iid_rdepth_ros.model.focal import stereo_fb

model, ds = load_probe(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 2)
canon = float(model.cfg.canonical_focal)
enh = model.avlfe.enhancers["0"]
cap = {}
orig = enh.align


def hook(*a, **k):
    al = orig(*a, **k)
    cap["al"] = al
    return al


enh.align = hook
rows = {"stereo_all": [], "stereo_conf": [], "mono": [], "full": []}
confs = []
for i in range(0, len(ds), 4):
    it = ds[i]
    img = to_tensor(it["image"])
    aux = to_tensor(it["aux"])
    gt = it["depth"]
    s = it["fx"] / canon
    fb = torch.tensor([stereo_fb(it["baseline_m"], canon)])
    with torch.no_grad():
        mono = model(img).numpy()[0, 0] * s
        full = model(img, aux=aux, fb=fb).numpy()[0, 0] * s
    al = cap["al"]
    sd = torch.exp(al.log_depth).numpy()[0, 0] * s
    conf = al.confidence.numpy()[0, 0]
    g4 = gt[1::4, 1::4]
    v = (g4 > 1e-3) & (g4 < 80)
    sdc = np.clip(sd, 1e-3, 80)
    rows["stereo_all"].append((sdc - g4)[v] ** 2)
    rows["stereo_conf"].append((sdc - g4)[v & (conf > 0.3)] ** 2)
    confs.append((conf[v] > 0.3).mean())
    vv = (gt > 1e-3) & (gt < 80)
    rows["mono"].append((np.clip(mono, 1e-3, 80) - gt)[vv] ** 2)
    rows["full"].append((np.clip(full, 1e-3, 80) - gt)[vv] ** 2)
for k, v in rows.items():
    print(k, "rmse", round(float(np.sqrt(np.concatenate(v).mean())), 3))
print(
    "frac conf>0.3",
    float(np.mean(confs)),
    "prior weight",
    float(enh.prior_weight.detach()) if enh.prior is not None else None,
    "temp",
    float(enh.log_temperature.detach().exp()),
)
