"""Reader of synth-street directories, formats synth-street/1 and /2 (docs/interfaces.md and
`writer.py`)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .cameras import StereoCamera
from .writer import FORMAT, FORMATS, FRAMES, META, decode_depth, file_name, subdirs

_META_KEYS = ("format", "seed", "frames", "height", "width", "baseline_m", "sequence_length",
              "generator_version")
_RECORD_KEYS = ("index", "sequence", "stamp_ns", "fx", "fy", "cx", "cy", "baseline_m",
                "pose_world_from_cam")
_RECORD_KEYS_V2 = _RECORD_KEYS + ("frame_in_sequence", "scene_kind", "height", "width",
                                  "cx_right", "cy_right", "right_dy_px", "P_left", "P_right",
                                  "photometric")


class SynthStreetDataset:
    """Random access to a synth-street directory.

    Item `i` is `{"image", "aux"}` (H, W, 3) uint8 RGB (left, right), `{"depth", "lidar"}`
    (H, W) float32 metres with 0 = none, `fx, fy, cx, cy, baseline_m` floats and `index` int;
    synth-street/2 items also have `occlusion` (H, W) uint8 (values in `occlusion.py`) and their
    own size. Per-frame metadata (sequence, stamp, pose; in /2 the camera, scene kind and
    photometry) is in `records[i]`, the camera as a `StereoCamera` from `camera(i)`. The whole
    directory is checked on construction; a missing, unfinished or foreign directory raises
    ValueError.
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise ValueError(f"synth-street directory {self.root} does not exist")
        self.meta = self._read_meta()
        self.records = self._read_records()
        self.format = self.meta["format"]
        # Image size shared by all frames (None in a /2 data set of several sizes).
        self.height = None if self.meta["height"] is None else int(self.meta["height"])
        self.width = None if self.meta["width"] is None else int(self.meta["width"])
        for sub in subdirs(self.format):
            folder = self.root / sub
            have = set(os.listdir(folder)) if folder.is_dir() else set()
            missing = [file_name(r["index"], sub, self.format) for r in self.records
                       if file_name(r["index"], sub, self.format) not in have]
            if missing:
                raise ValueError(f"{self.root} is incomplete: {len(missing)} file(s) missing in "
                                 f"{sub}/, first {missing[0]}")

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
        if meta.get("format") not in FORMATS:
            raise ValueError(f"{path}: format {meta.get('format')!r} is not supported "
                             f"(this reader reads {' and '.join(map(repr, FORMATS))})")
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
        keys = _RECORD_KEYS if self.meta["format"] == FORMAT else _RECORD_KEYS_V2
        with open(path, encoding="utf-8") as fh:
            for n, line in enumerate(fh):
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path}:{n + 1} is not valid JSON: {e}") from e
                if not isinstance(rec, dict):
                    raise ValueError(f"{path}:{n + 1} must hold a JSON object")
                missing = [k for k in keys if k not in rec]
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

        path = self.root / sub / file_name(index, sub, self.format)
        img = cv2.imread(str(path), flags)
        if img is None:
            why = "missing" if not path.exists() else "corrupt or not an image"
            raise ValueError(f"cannot read {path}: {why}")
        return img

    def camera(self, i: int) -> StereoCamera:
        """The stereo camera of frame `i` (synth-street/1: the fixed rectified pair)."""
        rec = self.records[int(i)]
        if self.format == FORMAT:
            return StereoCamera(height=self.height, width=self.width, fx=rec["fx"], fy=rec["fy"],
                                cx=rec["cx"], cy=rec["cy"], baseline_m=rec["baseline_m"],
                                cx_right=rec["cx"], cy_right=rec["cy"])
        return StereoCamera(height=rec["height"], width=rec["width"], fx=rec["fx"],
                            fy=rec["fy"], cx=rec["cx"], cy=rec["cy"],
                            baseline_m=rec["baseline_m"], cx_right=rec["cx_right"],
                            cy_right=rec["cy_right"], dy_px=rec["right_dy_px"])

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
        v1 = self.format == FORMAT
        shape = (self.height, self.width) if v1 else (int(rec["height"]), int(rec["width"]))
        for key, sub in (("image", "left"), ("aux", "right")):
            bgr = self._read(sub, idx, cv2.IMREAD_COLOR)
            if bgr.shape[:2] != shape:
                raise ValueError(f"{sub}/{file_name(idx, sub, self.format)} is "
                                 f"{bgr.shape[:2]}, expected {shape}")
            item[key] = np.ascontiguousarray(bgr[:, :, ::-1])
        planes = (("depth", np.uint16), ("lidar", np.uint16)) if v1 else (
            ("depth", np.float32), ("lidar", np.float32), ("occlusion", np.uint8))
        for key, dtype in planes:
            img = self._read(key, idx, cv2.IMREAD_UNCHANGED)
            if img.dtype != dtype or img.shape != shape:
                raise ValueError(f"{key}/{file_name(idx, key, self.format)} must be {shape} "
                                 f"{np.dtype(dtype).name}, got {img.shape} {img.dtype}")
            item[key] = decode_depth(img) if v1 else img
        for key in ("fx", "fy", "cx", "cy", "baseline_m"):
            item[key] = float(rec[key])
        item["index"] = int(idx)
        return item
