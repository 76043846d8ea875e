"""Write a synth-street data set: `generate(out_dir, frames, seed, ...)` (used by the CLI)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .lidar import below_horizon
from .scene import SceneOptions
from .street import SynthStreet
from .writer import SynthStreetWriter


@dataclass(frozen=True)
class GenerateSummary:
    """What `generate` wrote and how fast."""

    out_dir: Path
    frames: int
    seconds: float
    ms_per_frame: float
    lidar_coverage: float  # mean fraction of below-horizon pixels with a LiDAR return


def generate(out_dir: str | os.PathLike, frames: int, seed: int, height: int = 192,
             width: int = 640, sequence_length: int = 20, progress: bool = True, *,
             overwrite: bool = False, options: SceneOptions | None = None) -> GenerateSummary:
    """Render `frames` stereo frames of seed `seed` into `out_dir` (synth-street/1 format).

    The same arguments always give byte-identical files. `out_dir` must be empty or absent
    unless `overwrite` is set (then only a previous synth-street data set may be replaced).
    """
    if not isinstance(frames, int | np.integer) or isinstance(frames, bool) or frames < 1:
        raise ValueError(f"frames must be a positive integer, got {frames!r}")
    for name, v in (("height", height), ("width", width)):
        if not isinstance(v, int | np.integer) or v < 8:
            raise ValueError(f"{name} must be an integer >= 8, got {v!r}")
    street = SynthStreet(seed, height=int(height), width=int(width),
                         sequence_length=sequence_length, options=options)
    start = time.perf_counter()
    coverage = 0.0
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=int(frames), desc="synth-street", unit="frame")
    try:
        with SynthStreetWriter(out_dir, seed=seed, height=height, width=width,
                               baseline_m=street.baseline_m, sequence_length=sequence_length,
                               overwrite=overwrite) as writer:
            for i in range(int(frames)):
                frame = street.frame(i)
                below = below_horizon(street.sequence(frame["sequence"]).rays)
                coverage += float((frame["lidar"] > 0).sum()) / max(int(below.sum()), 1)
                writer.add(frame)
                if bar is not None:
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - start
    return GenerateSummary(out_dir=Path(out_dir), frames=int(frames), seconds=seconds,
                           ms_per_frame=1000.0 * seconds / int(frames),
                           lidar_coverage=coverage / int(frames))
