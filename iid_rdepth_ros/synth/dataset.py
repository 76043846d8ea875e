"""Reader of synth-street directories (format in docs/interfaces.md and `writer.py`)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .writer import FORMAT, FRAMES, META, SUBDIRS, decode_depth, frame_name

_META_KEYS = ("format", "seed", "frames", "height", "width", "baseline_m", "sequence_length",
              "generator_version")
_RECORD_KEYS = ("index", "sequence", "stamp_ns", "fx", "fy", "cx", "cy", "baseline_m",
                "pose_world_from_cam")


class SynthStreetDataset:
    """Random access to a synth-street directory.

    Item `i` is `{"image", "aux"}` (H, W, 3) uint8 RGB (left, right), `{"depth", "lidar"}`
    (H, W) float32 metres with 0 = none, `fx, fy, cx, cy, baseline_m` floats and `index` int.
    Per-frame metadata (sequence, stamp, pose) is in `records[i]`. The whole directory is
    checked on construction; a missing, unfinished or foreign directory raises ValueError.
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise ValueError(f"synth-street directory {self.root} does not exist")
        self.meta = self._read_meta()
        self.records = self._read_records()
        self.height, self.width = int(self.meta["height"]), int(self.meta["width"])
        for sub in SUBDIRS:
            folder = self.root / sub
            have = set(os.listdir(folder)) if folder.is_dir() else set()
            missing = [r["index"] for r in self.records if frame_name(r["index"]) not in have]
            if missing:
                raise ValueError(f"{self.root} is incomplete: {len(missing)} file(s) missing in "
                                 f"{sub}/, first {frame_name(missing[0])}")

    def _read_meta(self) -> dict:
        path = self.root / META
        if not path.is_file():
            raise ValueError(f"{self.root} is not a finished synth-street directory: no {META} "
                             "(generation may have been interrupted)")
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"{path} is not valid JSON: {e}") from e
        if not isinstance(meta, dict):
            raise ValueError(f"{path} must hold a JSON object")
        if meta.get("format") != FORMAT:
            raise ValueError(f"{path}: format {meta.get('format')!r} is not supported "
                             f"(this reader reads {FORMAT!r})")
        missing = [k for k in _META_KEYS if k not in meta]
        if missing:
            raise ValueError(f"{path} lacks keys {missing}")
        if not isinstance(meta["frames"], int) or meta["frames"] < 0:
            raise ValueError(f"{path}: 'frames' must be a non-negative integer")
        return meta

    def _read_records(self) -> list[dict]:
        path = self.root / FRAMES
        if not path.is_file():
            raise ValueError(f"{self.root} is incomplete: no {FRAMES}")
        records = []
        with open(path, encoding="utf-8") as fh:
            for n, line in enumerate(fh):
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path}:{n + 1} is not valid JSON: {e}") from e
                missing = [k for k in _RECORD_KEYS if k not in rec]
                if missing:
                    raise ValueError(f"{path}:{n + 1} lacks keys {missing}")
                if rec["index"] != n:
                    raise ValueError(f"{path}:{n + 1} has index {rec['index']}, expected {n}")
                records.append(rec)
        if len(records) != self.meta["frames"]:
            raise ValueError(f"{self.root} is incomplete: {FRAMES} has {len(records)} frames, "
                             f"{META} says {self.meta['frames']}")
        return records

    def __len__(self) -> int:
        return len(self.records)

    def _read(self, sub: str, index: int, flags: int) -> np.ndarray:
        import cv2

        path = self.root / sub / frame_name(index)
        img = cv2.imread(str(path), flags)
        if img is None:
            why = "missing" if not path.exists() else "corrupt or not an image"
            raise ValueError(f"cannot read {path}: {why}")
        return img

    def __getitem__(self, i: int) -> dict:
        import cv2

        if not isinstance(i, int | np.integer):
            raise TypeError(f"index must be an integer, got {type(i).__name__}")
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"index {i} out of range for {n} frames")
        rec = self.records[int(i) % n]
        idx = rec["index"]
        item: dict = {}
        shape = (self.height, self.width)
        for key, sub in (("image", "left"), ("aux", "right")):
            bgr = self._read(sub, idx, cv2.IMREAD_COLOR)
            if bgr.shape[:2] != shape:
                raise ValueError(f"{sub}/{frame_name(idx)} is {bgr.shape[:2]}, expected {shape}")
            item[key] = np.ascontiguousarray(bgr[:, :, ::-1])
        for key in ("depth", "lidar"):
            png = self._read(key, idx, cv2.IMREAD_UNCHANGED)
            if png.dtype != np.uint16 or png.shape != shape:
                raise ValueError(f"{key}/{frame_name(idx)} must be {shape} uint16, got "
                                 f"{png.shape} {png.dtype}")
            item[key] = decode_depth(png)
        for key in ("fx", "fy", "cx", "cy", "baseline_m"):
            item[key] = float(rec[key])
        item["index"] = int(idx)
        return item
