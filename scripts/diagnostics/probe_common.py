"""Shared set-up of the diagnostic probes (scripts/probe_*.py): a checkpoint, a synth-street
split, and the model's metric depth for one frame."""

from __future__ import annotations

import sys

import numpy as np
import torch

from iid_rdepth_ros.model.checkpoint import load_checkpoint
from iid_rdepth_ros.synth.dataset import SynthStreetDataset


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (1, 3, H, W) float in [0, 1]."""
    return torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255


def load_probe(checkpoint: str, root: str, threads: int = 2
               ) -> tuple[torch.nn.Module, SynthStreetDataset]:
    """The model of ``checkpoint`` (eval mode) and the synth-street split at ``root``, with
    torch limited to ``threads`` CPU threads."""
    torch.set_num_threads(threads)
    model, _ = load_checkpoint(checkpoint)
    return model.eval(), SynthStreetDataset(root)


def open_probe(default_every: int) -> tuple[torch.nn.Module, SynthStreetDataset, int, bool]:
    """From ``CHECKPOINT SYNTH_DIR [EVERY] [--aux]`` on the command line: the model (eval, 2
    threads), the data set, the frame step and whether to use the right view."""
    args = [a for a in sys.argv[1:] if a != "--aux"]
    model, data = load_probe(args[0], args[1])
    every = int(args[2]) if len(args) > 2 else default_every
    return model, data, every, "--aux" in sys.argv


def metric_depth(model: torch.nn.Module, item: dict, use_aux: bool) -> np.ndarray:
    """The model's depth for a data-set item at the item's focal length, clipped to 1e-3-80 m."""
    canonical = model.cfg.canonical_focal
    aux = to_tensor(item["aux"]) if use_aux else None
    fb = canonical * item["baseline_m"] if use_aux else None
    with torch.no_grad():
        pred = model(to_tensor(item["image"]), aux, fb).numpy()[0, 0]
    return np.clip(pred * item["fx"] / canonical, 1e-3, 80)
