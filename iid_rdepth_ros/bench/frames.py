"""Fixed frames for precision comparison and benchmarks.

``synth_frames`` reads a synth-street directory (docs/interfaces.md); ``procedural_frame``
makes a deterministic textured stereo pair when no data directory is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from iid_rdepth_ros.runtime.config import Intrinsics


@dataclass(frozen=True)
class Frame:
    """One camera frame with what ``Runner.infer`` needs (aux/baseline for stereo)."""

    image: np.ndarray  # (H, W, 3) uint8 RGB
    intrinsics: Intrinsics
    aux: np.ndarray | None = None
    baseline_m: float | None = None
    depth: np.ndarray | None = None  # dense ground truth if known (metres, 0 = none)


def synth_frames(root: str | Path, count: int, stereo: bool = True) -> list[Frame]:
    """The first ``count`` frames of a synth-street directory (evenly spaced over it)."""
    from iid_rdepth_ros.synth.dataset import SynthStreetDataset

    root = Path(root)
    if not (root / "meta.json").is_file():
        raise ValueError(f"{root} is not a synth-street directory (no meta.json)")
    dataset = SynthStreetDataset(root)
    n = len(dataset)
    if n == 0 or count <= 0:
        return []
    indices = np.unique(np.linspace(0, n - 1, num=min(count, n)).round().astype(int))
    frames = []
    for i in indices:
        item = dataset[int(i)]
        frames.append(Frame(
            image=item["image"],
            intrinsics=Intrinsics(item["fx"], item["fy"], item["cx"], item["cy"]),
            aux=item["aux"] if stereo else None,
            baseline_m=float(item["baseline_m"]) if stereo else None,
            depth=item.get("depth"),
        ))
    return frames


def procedural_frame(height: int, width: int, seed: int = 0, stereo: bool = True) -> Frame:
    """Deterministic textured pair: the right view is the left shifted by a smooth disparity."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([np.sin(xx / (7 + 5 * c) + yy / (11 + 3 * c)) for c in range(3)], -1)
    noise = rng.random((height // 4 + 1, width // 4 + 1, 3)).repeat(4, 0).repeat(4, 1)
    left = ((0.5 + 0.25 * base + 0.25 * noise[:height, :width]) * 255).astype(np.uint8)
    fx = 0.9 * width
    disparity = np.clip(2.0 + 30.0 * (yy / max(height - 1, 1)), 1.0, None)  # near at bottom
    src = np.clip(np.round(xx + disparity).astype(int), 0, width - 1)
    right = np.take_along_axis(left, src[..., None].repeat(3, -1), axis=1)
    intr = Intrinsics(fx=fx, fy=fx, cx=width / 2 - 0.5, cy=height / 2 - 0.5)
    return Frame(image=left, intrinsics=intr, aux=right if stereo else None,
                 baseline_m=0.54 if stereo else None)
