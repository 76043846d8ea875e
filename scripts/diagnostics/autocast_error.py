"""Diagnostic (issue 21): how much fp16 / bf16 autocast moves the torch backend's depth.

    python scripts/diagnostics/autocast_error.py [cpu|cuda] [FRAMES]

Runs the shipped ``default`` (192x640, T=4) on synth-street frames rendered with seed 11
(375x1242, through the shared pre-processing) in float32 and under ``torch.autocast`` with
float16 and bfloat16, mono and stereo, and prints the mean relative depth change. CPU and CUDA
autocast cast different op lists, so the CPU numbers only indicate the CUDA ones.
"""

import sys

import numpy as np
import torch

from iid_rdepth_ros.export.precision import rendered_frames
from iid_rdepth_ros.model.checkpoint import load_model
from iid_rdepth_ros.runtime.config import Intrinsics
from iid_rdepth_ros.runtime.processing import preprocess

device = sys.argv[1] if len(sys.argv) > 1 else "cpu"
frames = rendered_frames(int(sys.argv[2]) if len(sys.argv) > 2 else 4)
model, cfg, _ = load_model("default")
model = model.for_export().to(device)
for dtype in (torch.float16, torch.bfloat16):
    for stereo in (False, True):
        changes = []
        for f in frames:
            p = preprocess(f["image"], (192, 640), Intrinsics(f["fx"], f["fy"], f["cx"], f["cy"]),
                           f["aux"] if stereo else None, f["baseline_m"] if stereo else None,
                           cfg.canonical_focal)
            img = torch.from_numpy(p.image).to(device)
            aux = torch.from_numpy(p.aux).to(device) if stereo else None
            fb = torch.from_numpy(p.fb).to(device) if stereo else None
            with torch.inference_mode():
                ref = model(img, aux=aux, fb=fb)
                with torch.autocast(device, dtype=dtype):
                    out = model(img, aux=aux, fb=fb).float()
            changes.append(((out - ref).abs() / ref).mean().item())
        print(f"{device} {dtype} {'stereo' if stereo else 'mono'}: mean relative depth change "
              f"{np.mean(changes):.2e} over {len(frames)} frames", flush=True)
