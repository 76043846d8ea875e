"""synth-street on-disk format (docs/interfaces.md): writer and shared encoding helpers.

```
DIR/meta.json      {"format": "synth-street/1", "seed", "frames", "height", "width",
                    "baseline_m", "sequence_length", "generator_version"}
DIR/frames.jsonl   one JSON object per frame (index, sequence, stamp_ns, fx, fy, cx, cy,
                   baseline_m, pose_world_from_cam)
DIR/{left,right}/NNNNNN.png   RGB images
DIR/{depth,lidar}/NNNNNN.png  uint16, metres * 256, 0 = no measurement
```
Format `synth-street/2` (every mode but the original street mode) adds per-frame cameras (image
size, right principal point, vertical offset, P matrices), scene kind and photometry to
frames.jsonl, the mode to meta.json, stores depth and LiDAR exactly as float32 TIFF
(`{depth,lidar}/NNNNNN.tiff`, metres, 0 = none) and adds `occlusion/NNNNNN.png` (uint8, values
in `occlusion.py`). `meta.json` is written last (atomically), so a directory without it is an
unfinished run. PNG and TIFF encoding is deterministic (fixed codec parameters), so the same
frames give the same bytes.
"""

from __future__ import annotations

import json
import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

FORMAT = "synth-street/1"
FORMAT_V2 = "synth-street/2"
FORMATS = (FORMAT, FORMAT_V2)
GENERATOR_VERSION = "1.0"
GENERATOR_VERSION_V2 = "2.0"
DEPTH_SCALE = 256.0  # uint16 PNG value per metre
SUBDIRS = ("left", "right", "depth", "lidar")
SUBDIRS_V2 = SUBDIRS + ("occlusion",)
META = "meta.json"
FRAMES = "frames.jsonl"
_FLOAT_SUBDIRS = ("depth", "lidar")  # float32 TIFF in synth-street/2


def frame_name(index: int) -> str:
    """File name of frame `index` inside each of `SUBDIRS` (synth-street/1)."""
    return f"{index:06d}.png"


def subdirs(fmt: str) -> tuple[str, ...]:
    """The image folders of a data set in format `fmt`."""
    return SUBDIRS if fmt == FORMAT else SUBDIRS_V2


def file_name(index: int, sub: str, fmt: str) -> str:
    """File name of frame `index` in folder `sub` of a data set in format `fmt`."""
    if fmt == FORMAT_V2 and sub in _FLOAT_SUBDIRS:
        return f"{index:06d}.tiff"
    return frame_name(index)


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


def _tiff_params() -> list[int]:
    import cv2

    return [cv2.IMWRITE_TIFF_COMPRESSION, cv2.IMWRITE_TIFF_COMPRESSION_ADOBE_DEFLATE,
            cv2.IMWRITE_TIFF_PREDICTOR, cv2.IMWRITE_TIFF_PREDICTOR_FLOATINGPOINT]


def encode_image(name: str, image: np.ndarray) -> bytes:
    """PNG or (float32) TIFF bytes of `image`, by the extension of file `name`."""
    import cv2

    tiff = name.endswith(".tiff")
    ok, buf = cv2.imencode(".tiff" if tiff else ".png", image,
                           _tiff_params() if tiff else _png_params())
    if not ok:
        raise OSError(f"image encoding failed for {name}")
    return buf.tobytes()


def _write_png(path: Path, image: np.ndarray) -> None:
    path.write_bytes(encode_image(path.name, image))


def frame_images(frame: dict, fmt: str) -> dict[str, np.ndarray]:
    """The arrays to write for `frame` (from `SynthStreet.frame`), by folder."""
    images = {"left": np.ascontiguousarray(frame["left"][:, :, ::-1]),  # cv2 wants BGR
              "right": np.ascontiguousarray(frame["right"][:, :, ::-1])}
    if fmt == FORMAT:
        images["depth"] = encode_depth(frame["depth"])
        images["lidar"] = encode_depth(frame["lidar"])
        return images
    images["depth"] = np.ascontiguousarray(frame["depth"], np.float32)
    images["lidar"] = np.ascontiguousarray(frame["lidar"], np.float32)
    occ = frame.get("occlusion")
    if occ is None:
        raise ValueError(f"frame {frame['index']}: synth-street/2 needs its occlusion mask")
    images["occlusion"] = np.ascontiguousarray(occ, np.uint8)
    return images


def frame_record(frame: dict, fmt: str) -> dict:
    """The frames.jsonl record of `frame` in format `fmt`."""
    record = {"index": int(frame["index"]), "sequence": int(frame["sequence"]),
              "stamp_ns": int(frame["stamp_ns"]), "fx": float(frame["fx"]),
              "fy": float(frame["fy"]), "cx": float(frame["cx"]), "cy": float(frame["cy"]),
              "baseline_m": float(frame["baseline_m"]),
              "pose_world_from_cam": np.asarray(frame["pose_world_from_cam"], float).tolist()}
    if fmt == FORMAT:
        return record
    cam = frame["camera"]
    photo = frame.get("photometric")
    record.update({
        "frame_in_sequence": int(frame["frame_in_sequence"]), "scene_kind": frame["scene_kind"],
        "height": int(cam.height), "width": int(cam.width), "cx_right": float(cam.cx_right),
        "cy_right": float(cam.cy_right), "right_dy_px": float(cam.dy_px),
        "P_left": cam.p_left.tolist(), "P_right": cam.p_right.tolist(),
        "photometric": None if photo is None else {k: v.to_json() for k, v in photo.items()},
    })
    return record


def encode_frame(frame: dict, fmt: str) -> tuple[dict, dict[str, bytes]]:
    """(frames.jsonl record, encoded file bytes by folder) of `frame`."""
    index = int(frame["index"])
    files = {sub: encode_image(file_name(index, sub, fmt), img)
             for sub, img in frame_images(frame, fmt).items()}
    return frame_record(frame, fmt), files


class SynthStreetWriter:
    """Writes frames (dicts from `SynthStreet.frame`) into a synth-street directory.

    Images are encoded on a background thread (OpenCV releases the GIL) while the caller renders
    the next frame; at most `max_pending` frames are in flight. `fmt` is FORMAT for the original
    street mode, FORMAT_V2 otherwise (its meta gets `extra_meta`, e.g. the mode).
    """

    def __init__(self, root: str | os.PathLike, *, seed: int, height: int, width: int,
                 baseline_m: float, sequence_length: int, overwrite: bool = False,
                 max_pending: int = 4, fmt: str = FORMAT, extra_meta: dict | None = None
                 ) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown synth-street format {fmt!r}")
        self.root = Path(root)
        self.fmt = fmt
        self.meta = {"format": fmt, "seed": int(seed), "frames": 0, "height": int(height),
                     "width": int(width), "baseline_m": float(baseline_m),
                     "sequence_length": int(sequence_length),
                     "generator_version": GENERATOR_VERSION if fmt == FORMAT
                     else GENERATOR_VERSION_V2}
        self.meta.update(extra_meta or {})
        self._sizes: set[tuple[int, int]] = set()
        self._baselines: set[float] = set()
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
            foreign = [p.name for p in root.iterdir()
                       if p.name not in (*SUBDIRS_V2, META, FRAMES)]
            if foreign:
                raise ValueError(f"refusing to overwrite {root}: it holds files that are not "
                                 f"synth-street output: {sorted(foreign)[:5]}")
            (root / META).unlink(missing_ok=True)
            (root / FRAMES).unlink(missing_ok=True)
            for sub in SUBDIRS_V2:
                if (root / sub).is_dir():
                    for p in [*(root / sub).glob("*.png"), *(root / sub).glob("*.tiff")]:
                        p.unlink()
                    if sub not in subdirs(self.fmt) and not any((root / sub).iterdir()):
                        (root / sub).rmdir()
        for sub in subdirs(self.fmt):
            (root / sub).mkdir(parents=True, exist_ok=True)

    def _check(self, index: int) -> None:
        if self._closed:
            raise ValueError("writer is closed")
        if index != self.meta["frames"]:
            raise ValueError(f"frames must be added in order: expected index "
                             f"{self.meta['frames']}, got {index}")

    def add(self, frame: dict) -> None:
        """Queue the images of `frame` (encoded on a background thread) and append its record
        to frames.jsonl."""
        index = int(frame["index"])
        self._check(index)
        if self.fmt == FORMAT:
            h, w = self.meta["height"], self.meta["width"]
        else:
            h, w = int(frame["camera"].height), int(frame["camera"].width)
        for key in ("left", "right"):
            if frame[key].shape != (h, w, 3) or frame[key].dtype != np.uint8:
                raise ValueError(f"frame {index}: {key} must be ({h}, {w}, 3) uint8, got "
                                 f"{frame[key].shape} {frame[key].dtype}")
        images = frame_images(frame, self.fmt)
        self._submit(self._write_all, index, images)
        self._append(frame_record(frame, self.fmt))

    def add_encoded(self, record: dict, files: dict[str, bytes]) -> None:
        """Write an already encoded frame (`encode_frame`), e.g. from a worker process."""
        index = int(record["index"])
        self._check(index)
        if set(files) != set(subdirs(self.fmt)):
            raise ValueError(f"frame {index}: expected files for {subdirs(self.fmt)}, got "
                             f"{sorted(files)}")
        self._submit(self._write_bytes, index, files)
        self._append(record)

    def _submit(self, fn, *args) -> None:
        while len(self._pending) >= self._max_pending:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(fn, *args))

    def _append(self, record: dict) -> None:
        self._jsonl.write(json.dumps(record) + "\n")
        self.meta["frames"] += 1
        if self.fmt != FORMAT:
            self._sizes.add((int(record["height"]), int(record["width"])))
            self._baselines.add(float(record["baseline_m"]))

    def _write_all(self, index: int, images: dict[str, np.ndarray]) -> None:
        for sub, img in images.items():
            _write_png(self.root / sub / file_name(index, sub, self.fmt), img)

    def _write_bytes(self, index: int, files: dict[str, bytes]) -> None:
        for sub, data in files.items():
            (self.root / sub / file_name(index, sub, self.fmt)).write_bytes(data)

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
        if self.fmt != FORMAT:  # the size and baseline shared by all frames, else null
            one_size = len(self._sizes) == 1
            h, w = next(iter(self._sizes)) if one_size else (None, None)
            baseline = next(iter(self._baselines)) if len(self._baselines) == 1 else None
            self.meta.update(height=h, width=w, baseline_m=baseline,
                             sizes=sorted([list(s) for s in self._sizes]))
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
