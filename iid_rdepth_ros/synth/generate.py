"""Write a synth-street data set: `generate(out_dir, frames, seed, ...)` (used by the CLI).

Frames are pure functions of (seed, index), so `workers > 1` renders and encodes them in that
many processes (chunks of consecutive frames of one sequence) and the parent writes them in
order: the files are byte-identical for any number of workers.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .cameras import CameraOverride
from .config import SynthConfig
from .scene import SceneOptions
from .street import SynthStreet
from .writer import FORMAT, FORMAT_V2, SynthStreetWriter, encode_frame

_CHUNK = 10  # frames per worker task (at most; chunks never cross a sequence)


@dataclass(frozen=True)
class GenerateSummary:
    """What `generate` wrote and how fast."""

    out_dir: Path
    frames: int
    seconds: float
    ms_per_frame: float
    lidar_coverage: float  # mean fraction of below-horizon (street) / all (near) pixels with a
    # LiDAR return
    format: str = FORMAT
    workers: int = 1


_WORKER: SynthStreet | None = None


def _init_worker(args: tuple, kwargs: dict) -> None:
    global _WORKER
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _WORKER = SynthStreet(*args, **kwargs)


def _render_chunk(indices: list[int], fmt: str) -> list[tuple[dict, dict[str, bytes], float]]:
    assert _WORKER is not None
    out = []
    for i in indices:
        frame = _WORKER.frame(i)
        record, files = encode_frame(frame, fmt)
        out.append((record, files, frame["lidar_coverage"]))
    return out


def _chunks(frames: int, sequence_length: int) -> Iterator[list[int]]:
    start = 0
    while start < frames:
        seq_end = (start // sequence_length + 1) * sequence_length
        end = min(start + _CHUNK, seq_end, frames)
        yield list(range(start, end))
        start = end


def generate(out_dir: str | os.PathLike, frames: int, seed: int, height: int = 192,
             width: int = 640, sequence_length: int = 20, progress: bool = True, *,
             overwrite: bool = False, options: SceneOptions | None = None,
             config: SynthConfig | None = None, camera: CameraOverride | None = None,
             workers: int = 1) -> GenerateSummary:
    """Render `frames` stereo frames of seed `seed` into `out_dir`.

    `config` chooses the mode (default: the original street data, format synth-street/1; any
    other mode or a `camera` override writes synth-street/2). The same arguments always give
    byte-identical files, whatever `workers`. `out_dir` must be empty or absent unless
    `overwrite` is set (then only a previous synth-street data set may be replaced).
    """
    if not isinstance(frames, int | np.integer) or isinstance(frames, bool) or frames < 1:
        raise ValueError(f"frames must be a positive integer, got {frames!r}")
    for name, v in (("height", height), ("width", width)):
        if not isinstance(v, int | np.integer) or v < 8:
            raise ValueError(f"{name} must be an integer >= 8, got {v!r}")
    if not isinstance(workers, int | np.integer) or isinstance(workers, bool) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    args = (seed,)
    kwargs = {"height": int(height), "width": int(width), "sequence_length": sequence_length,
              "options": options, "config": config, "camera": camera}
    street = SynthStreet(*args, **kwargs)
    fmt = FORMAT if street.legacy else FORMAT_V2
    extra = {} if street.legacy else {
        "mode": street.config.name, "config": street.config.to_json(),
        "camera_override": None if camera is None else camera.to_json()}
    start = time.perf_counter()
    coverage = 0.0
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=int(frames), desc="synth-street", unit="frame")
    try:
        with SynthStreetWriter(out_dir, seed=seed, height=height, width=width,
                               baseline_m=street.baseline_m, sequence_length=sequence_length,
                               overwrite=overwrite, fmt=fmt, extra_meta=extra) as writer:
            if workers == 1:
                for i in range(int(frames)):
                    frame = street.frame(i)
                    coverage += frame["lidar_coverage"]
                    writer.add(frame)
                    if bar is not None:
                        bar.update(1)
            else:
                for done in _parallel(int(frames), street.sequence_length, fmt, int(workers),
                                      args, kwargs):
                    for record, files, cov in done:
                        coverage += cov
                        writer.add_encoded(record, files)
                    if bar is not None:
                        bar.update(len(done))
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - start
    return GenerateSummary(out_dir=Path(out_dir), frames=int(frames), seconds=seconds,
                           ms_per_frame=1000.0 * seconds / int(frames),
                           lidar_coverage=coverage / int(frames), format=fmt,
                           workers=int(workers))


def _parallel(frames: int, sequence_length: int, fmt: str, workers: int, args: tuple,
              kwargs: dict) -> Iterator[list]:
    """Rendered chunks in frame order, at most 2 * `workers` chunks in flight."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    ctx = multiprocessing.get_context("spawn")  # no fork of the writer's thread
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                             initargs=(args, kwargs)) as pool:
        pending: deque = deque()
        try:
            for chunk in _chunks(frames, sequence_length):
                pending.append(pool.submit(_render_chunk, chunk, fmt))
                if len(pending) >= 2 * workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for fut in pending:
                fut.cancel()
