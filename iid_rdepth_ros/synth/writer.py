"""synth-street on-disk format (docs/interfaces.md): writer and shared encoding helpers.

```
DIR/meta.json      {"format": "synth-street/1", "seed", "frames", "height", "width",
                    "baseline_m", "sequence_length", "generator_version"}
DIR/frames.jsonl   one JSON object per frame (index, sequence, stamp_ns, fx, fy, cx, cy,
                   baseline_m, pose_world_from_cam)
DIR/{left,right}/NNNNNN.png   RGB images
DIR/{depth,lidar}/NNNNNN.png  uint16, metres * 256, 0 = no measurement
```
`meta.json` is written last (atomically), so a directory without it is an unfinished run. PNG
encoding is deterministic (fixed zlib level and filter), so the same frames give the same bytes.
"""

from __future__ import annotations

import json
import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

FORMAT = "synth-street/1"
GENERATOR_VERSION = "1.0"
DEPTH_SCALE = 256.0  # uint16 PNG value per metre
SUBDIRS = ("left", "right", "depth", "lidar")
META = "meta.json"
FRAMES = "frames.jsonl"


def frame_name(index: int) -> str:
    """File name of frame `index` inside each of `SUBDIRS`."""
    return f"{index:06d}.png"


def encode_depth(depth: np.ndarray) -> np.ndarray:
    """Metres (0 / NaN / inf = none) to uint16 metres*256; values beyond 255.99 m are dropped.

    float32 is exact here: scaling by 256 only changes the exponent, and every value that fits
    in 16 bits is an exactly representable integer.
    """
    q = np.rint(np.asarray(depth, np.float32) * np.float32(DEPTH_SCALE))
    ok = (q > 0) & (q <= 65535)  # False for NaN
    return np.where(ok, q, np.float32(0)).astype(np.uint16)


def decode_depth(png: np.ndarray) -> np.ndarray:
    """uint16 metres*256 to float32 metres (0 stays 0 = none)."""
    return png.astype(np.float32) / np.float32(DEPTH_SCALE)


def _png_params() -> list[int]:
    import cv2

    return [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FAST_FILTERS]


def _write_png(path: Path, image: np.ndarray) -> None:
    import cv2

    ok, buf = cv2.imencode(".png", image, _png_params())
    if not ok:
        raise OSError(f"PNG encoding failed for {path}")
    path.write_bytes(buf.tobytes())


class SynthStreetWriter:
    """Writes frames (dicts from `SynthStreet.frame`) into a synth-street directory.

    PNGs are encoded on a background thread (OpenCV releases the GIL) while the caller renders
    the next frame; at most `max_pending` frames are in flight.
    """

    def __init__(self, root: str | os.PathLike, *, seed: int, height: int, width: int,
                 baseline_m: float, sequence_length: int, overwrite: bool = False,
                 max_pending: int = 4) -> None:
        self.root = Path(root)
        self.meta = {"format": FORMAT, "seed": int(seed), "frames": 0, "height": int(height),
                     "width": int(width), "baseline_m": float(baseline_m),
                     "sequence_length": int(sequence_length),
                     "generator_version": GENERATOR_VERSION}
        self._prepare(overwrite)
        self._jsonl = open(self.root / FRAMES, "w", encoding="utf-8")  # noqa: SIM115
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="synth-png")
        self._pending: deque[Future] = deque()
        self._max_pending = max_pending
        self._closed = False

    def _prepare(self, overwrite: bool) -> None:
        root = self.root
        if root.exists() and not root.is_dir():
            raise ValueError(f"output path {root} exists and is not a directory")
        if root.is_dir() and any(root.iterdir()):
            if not overwrite:
                raise ValueError(f"output directory {root} is not empty (pass overwrite=True "
                                 "to replace a synth-street data set there)")
            foreign = [p.name for p in root.iterdir() if p.name not in (*SUBDIRS, META, FRAMES)]
            if foreign:
                raise ValueError(f"refusing to overwrite {root}: it holds files that are not "
                                 f"synth-street output: {sorted(foreign)[:5]}")
            (root / META).unlink(missing_ok=True)
            (root / FRAMES).unlink(missing_ok=True)
            for sub in SUBDIRS:
                if (root / sub).is_dir():
                    for p in (root / sub).glob("*.png"):
                        p.unlink()
        for sub in SUBDIRS:
            (root / sub).mkdir(parents=True, exist_ok=True)

    def add(self, frame: dict) -> None:
        """Queue the four PNGs of `frame` and append its record to frames.jsonl."""
        if self._closed:
            raise ValueError("writer is closed")
        index = int(frame["index"])
        if index != self.meta["frames"]:
            raise ValueError(f"frames must be added in order: expected index "
                             f"{self.meta['frames']}, got {index}")
        h, w = self.meta["height"], self.meta["width"]
        for key in ("left", "right"):
            if frame[key].shape != (h, w, 3) or frame[key].dtype != np.uint8:
                raise ValueError(f"frame {index}: {key} must be ({h}, {w}, 3) uint8, got "
                                 f"{frame[key].shape} {frame[key].dtype}")
        name = frame_name(index)
        images = {"left": np.ascontiguousarray(frame["left"][:, :, ::-1]),  # cv2 wants BGR
                  "right": np.ascontiguousarray(frame["right"][:, :, ::-1]),
                  "depth": encode_depth(frame["depth"]), "lidar": encode_depth(frame["lidar"])}
        while len(self._pending) >= self._max_pending:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(self._write_all, name, images))
        record = {"index": index, "sequence": int(frame["sequence"]),
                  "stamp_ns": int(frame["stamp_ns"]), "fx": float(frame["fx"]),
                  "fy": float(frame["fy"]), "cx": float(frame["cx"]), "cy": float(frame["cy"]),
                  "baseline_m": float(frame["baseline_m"]),
                  "pose_world_from_cam": np.asarray(frame["pose_world_from_cam"],
                                                    float).tolist()}
        self._jsonl.write(json.dumps(record) + "\n")
        self.meta["frames"] += 1

    def _write_all(self, name: str, images: dict[str, np.ndarray]) -> None:
        for sub, img in images.items():
            _write_png(self.root / sub / name, img)

    def close(self) -> None:
        """Finish pending writes, then write meta.json (the completeness marker)."""
        if self._closed:
            return
        self._closed = True
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self._pool.shutdown(wait=True)
            self._jsonl.close()
        tmp = self.root / (META + ".tmp")
        tmp.write_text(json.dumps(self.meta, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.root / META)

    def abort(self) -> None:
        """Stop without writing meta.json (the directory stays marked incomplete)."""
        self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._jsonl.close()

    def __enter__(self) -> SynthStreetWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
