"""Frozen-encoder feature cache: encode every frame once, train the decoder from the cache.

The encoder is frozen and always in ``eval()``, so its features are a deterministic function
of the frame. The cache stores, per frame, the main view's levels 0..3 and (optionally) the
auxiliary view's levels 0..1 as float16, plus the ground truth the loss needs as uint16
(metres * 256, the synth-street/KITTI PNG encoding: exact for those, <= 2 mm rounding for
others) ``fx`` at the network size and the stereo baseline.

Modes: ``off`` (no cache: load and encode every batch), ``memory`` (numpy arrays in RAM) and
``disk`` (``.npy`` files memory-mapped from ``ROOT/<key>/``, default ROOT = ``DATA/.feature_
cache``; built once, reused by later runs). The key is a hash of the encoder name and weights,
the input size, the data directory's ``meta.json`` (seed, frames, size, generator version),
the frame count and the stored fields, so any change rebuilds instead of reusing stale data.

Size per frame at 192x640 with Lite0: ~0.7 MB main + ~0.5 MB aux features.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from iid_rdepth_ros.datasets.frames import DepthFrames, collate

CACHE_VERSION = 1
MAIN_LEVELS = 4
AUX_LEVELS = 2
DEPTH_SCALE = 256.0
#: per-pixel targets, stored as uint16 metres * DEPTH_SCALE (0 = none)
TARGETS = ("lidar", "depth", "hint")
FIELDS = ("main", "aux", *TARGETS)


def encoder_digest(model: torch.nn.Module) -> str:
    """Short hash of the frozen encoder's weights and buffers."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.encoder.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def cache_key(model: torch.nn.Module, frames: DepthFrames, fields: Sequence[str]) -> str:
    """Hash that identifies one cache (see module docstring)."""
    cfg = getattr(model, "cfg", None) or getattr(model, "config", None)
    info = {
        "version": CACHE_VERSION,
        "encoder": _plain(getattr(cfg, "encoder", type(model.encoder).__name__)),
        "encoder_weights": encoder_digest(model),
        "input_size": list(frames.input_size),
        "meta": frames.meta,
        "root": None if frames.meta else str(frames.root),
        "frames": hashlib.sha256(np.asarray(frames.indices, np.int64).tobytes()).hexdigest(),
        "fields": sorted(fields),
    }
    if "hint" in fields:  # the SGBM set-up that made the hints
        from iid_rdepth_ros.evaluation.sgbm import HINT_NEAR_M, SgbmParams

        info["hint"] = {"sgbm": SgbmParams().as_dict(), "near_m": HINT_NEAR_M}
    blob = json.dumps(info, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:20]


def _plain(obj: Any) -> Any:
    return obj.to_dict() if hasattr(obj, "to_dict") else obj


class FeatureCache:
    """Batches of encoder features and targets for the frames of one data set.

    ``fields`` picks what is stored: ``main`` (always), ``aux``, ``lidar``, ``depth`` and
    ``hint`` (OpenCV SGBM depth of the stereo pair at the ground truth's size, 0 = no match:
    ``evaluation.sgbm.sgbm_hints``).
    """

    def __init__(self, frames: DepthFrames, model: torch.nn.Module, *, mode: str = "memory",
                 root: str | Path | None = None, fields: Sequence[str] = ("main", "lidar"),
                 chunk: int = 8, progress: bool = False, desc: str = "encode",
                 wait_s: float | None = None) -> None:
        """``wait_s`` (disk mode): do not build a missing cache but wait up to that many seconds
        for another process (rank 0 of a distributed run) to finish building it."""
        if mode not in ("off", "memory", "disk"):
            raise ValueError(f"cache mode must be off | memory | disk, got {mode!r}")
        unknown = set(fields) - set(FIELDS)
        if unknown:
            raise ValueError(f"unknown cache fields {sorted(unknown)}")
        for name in ("aux", "hint"):
            if name in fields and not frames.aux:
                raise ValueError(f"cache field {name!r} needs frames opened with aux=True")
        self.frames = frames
        self.model = model
        self.mode = mode
        self.fields = tuple(dict.fromkeys(("main", *fields)))
        self.chunk = chunk
        self.arrays: dict[str, np.ndarray] = {}
        self.key = cache_key(model, frames, self.fields) if mode != "off" else ""
        self.path: Path | None = None
        if mode == "off":
            return
        if mode == "disk":
            base = Path(root) if root is not None else (
                Path(frames.root or ".") / ".feature_cache")
            self.path = base / self.key
            if wait_s is not None:
                self._wait(wait_s)
            elif not (self.path / "info.json").is_file():
                self._build_disk(progress, desc)
            self._open_disk()
        else:
            self.arrays = self._build(None, progress, desc)

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def nbytes(self) -> int:
        return int(sum(a.nbytes for a in self.arrays.values()))

    # -- building ---------------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, batch: dict[str, Any], aux: bool, *, cpu: bool = True
               ) -> dict[str, list[torch.Tensor]]:
        """Encoder features of a collated batch (main levels 0..3, aux levels 0..1), on the
        CPU whatever device the model is on (``cpu=False``: left on the model's device)."""
        device = next(self.model.encoder.parameters()).device

        def move(ts: list[torch.Tensor]) -> list[torch.Tensor]:
            return [t.cpu() for t in ts] if cpu else ts

        out = {"main": move(self.model.encode(batch["image"].to(device, non_blocking=True)))}
        if aux:
            out["aux"] = move(self.model.encode(batch["aux"].to(device, non_blocking=True),
                                                levels=AUX_LEVELS))
        return out

    def _build(self, dest: Path | None, progress: bool, desc: str) -> dict[str, np.ndarray]:
        from tqdm import tqdm

        n = len(self.frames)
        arrays: dict[str, np.ndarray] = {}
        bar = tqdm(total=n, desc=desc, unit="frame", disable=not progress, leave=False)
        for start in range(0, n, self.chunk):
            idx = list(range(start, min(start + self.chunk, n)))
            batch = collate([self.frames[i] for i in idx])
            feats = self.encode(batch, "aux" in self.fields)
            values: dict[str, np.ndarray] = {}
            for view, levels in feats.items():
                for lvl, t in enumerate(levels):
                    values[f"{view}{lvl}"] = t.to(torch.float16).numpy()
            if "hint" in self.fields:
                batch["hint"] = torch.from_numpy(self._hints(batch))
            for name in TARGETS:
                if name in self.fields:
                    d = batch[name].numpy() * DEPTH_SCALE
                    values[name] = np.clip(np.rint(d), 0, 65535).astype(np.uint16)
            values["fx"] = batch["fx"].numpy().astype(np.float64)
            values["baseline"] = batch["baseline"].numpy().astype(np.float64)
            for name, v in values.items():
                if name not in arrays:
                    shape = (n, *v.shape[1:])
                    arrays[name] = (np.lib.format.open_memmap(dest / f"{name}.npy", mode="w+",
                                                              dtype=v.dtype, shape=shape)
                                    if dest is not None else np.empty(shape, dtype=v.dtype))
                arrays[name][idx[0]:idx[-1] + 1] = v
            bar.update(len(idx))
        bar.close()
        return arrays

    def _build_disk(self, progress: bool, desc: str) -> None:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{self.key}.", dir=self.path.parent))
        try:
            arrays = self._build(tmp, progress, desc)
            for a in arrays.values():
                a.flush()  # type: ignore[attr-defined]
            del arrays
            info = {"version": CACHE_VERSION, "fields": list(self.fields),
                    "frames": len(self.frames), "input_size": list(self.frames.input_size)}
            (tmp / "info.json").write_text(json.dumps(info))
            try:
                os.replace(tmp, self.path)
            except OSError:  # another process finished the same cache first
                if not (self.path / "info.json").is_file():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _wait(self, wait_s: float) -> None:
        assert self.path is not None
        deadline = time.monotonic() + wait_s
        while not (self.path / "info.json").is_file():
            if time.monotonic() > deadline:
                raise TimeoutError(f"feature cache {self.path} was not built within "
                                   f"{wait_s:.0f} s")
            time.sleep(1.0)

    def _open_disk(self) -> None:
        assert self.path is not None
        self.arrays = {p.stem: np.load(p, mmap_mode="r", allow_pickle=False)
                       for p in self.path.glob("*.npy")}

    # -- reading ----------------------------------------------------------------------------
    def batch(self, indices: Sequence[int], *, aux: bool = False) -> dict[str, Any]:
        """Features and targets of frames ``indices`` (CPU tensors).

        Returns ``main`` (4 float32 tensors), ``aux`` (2 tensors, only when ``aux``), the stored
        targets ``lidar`` / ``depth`` / ``hint`` as (B, 1, h, w) float32 metres, and ``fx``,
        ``baseline`` (B,).
        """
        if aux and "aux" not in self.fields:
            raise ValueError("this cache was built without the auxiliary view")
        if self.mode == "off":
            return self._live(indices, aux)
        idx = np.asarray(indices, dtype=np.int64)
        out: dict[str, Any] = {
            "main": [torch.from_numpy(np.asarray(self.arrays[f"main{lvl}"][idx])).float()
                     for lvl in range(MAIN_LEVELS)],
            "fx": torch.from_numpy(self.arrays["fx"][idx]).float(),
            "baseline": torch.from_numpy(self.arrays["baseline"][idx]).float(),
        }
        if aux:
            out["aux"] = [torch.from_numpy(np.asarray(self.arrays[f"aux{lvl}"][idx])).float()
                          for lvl in range(AUX_LEVELS)]
        for name in TARGETS:
            if name in self.arrays:
                d = np.asarray(self.arrays[name][idx]).astype(np.float32) / DEPTH_SCALE
                out[name] = torch.from_numpy(d)
        return out

    def _live(self, indices: Sequence[int], aux: bool) -> dict[str, Any]:
        return self.from_collated(collate([self.frames[int(i)] for i in indices]), aux=aux)

    def from_collated(self, batch: dict[str, Any], *, aux: bool = False) -> dict[str, Any]:
        """What ``batch`` returns, from frames already collated (e.g. by DataLoader workers):
        the batch is encoded now (cache off); features stay on the model's device."""
        feats = self.encode(batch, aux, cpu=False)
        out: dict[str, Any] = {"main": feats["main"], "fx": batch["fx"],
                               "baseline": batch["baseline"]}
        if aux:
            out["aux"] = feats["aux"]
        for name in ("lidar", "depth"):
            if name in self.fields:
                out[name] = batch[name]
        if "hint" in self.fields:
            out["hint"] = torch.from_numpy(self._hints(batch))
        return out

    @staticmethod
    def _hints(batch: dict[str, Any]) -> np.ndarray:
        from iid_rdepth_ros.evaluation.sgbm import sgbm_hints

        return sgbm_hints(batch["image"], batch["aux"], batch["fx"], batch["baseline"],
                          tuple(batch["lidar"].shape[-2:]))
