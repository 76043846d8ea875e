"""Image and depth file readers shared by the data-set readers (OpenCV, imported lazily)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _unreadable(path: str | Path) -> str:
    """Why OpenCV returned no image for ``path``."""
    return "missing" if not Path(path).exists() else "corrupt or not an image"


def read_rgb(path: str | Path) -> np.ndarray:
    """An 8-bit colour image as (H, W, 3) uint8 RGB (grey images are expanded)."""
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError(f"cannot read image {path}: {_unreadable(path)}")
    if img.dtype != np.uint8:
        raise ValueError(f"{path}: expected an 8-bit image, got {img.dtype}")
    if img.ndim == 2:
        return np.repeat(img[:, :, None], 3, axis=2)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_depth_png(path: str | Path, divisor: float) -> np.ndarray:
    """A 16-bit depth PNG as float32 metres (``value / divisor``; 0 stays 0 = no measurement)."""
    import cv2

    raw = cv2.imread(str(path), cv2.IMREAD_ANYDEPTH)
    if raw is None:
        raise ValueError(f"cannot read depth image {path}: {_unreadable(path)}")
    if raw.dtype != np.uint16 or raw.ndim != 2:
        raise ValueError(f"{path}: depth PNGs must be single-channel 16-bit, got {raw.dtype} "
                         f"with shape {raw.shape}")
    return raw.astype(np.float32) / np.float32(divisor)


def read_depth_npy(path: str | Path) -> np.ndarray:
    """A ``.npy`` depth map (H, W) in metres as float32 (NaN / inf / negative become 0); an
    unreadable file (corrupt, truncated, pickled objects) is a ValueError naming it."""
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, EOFError, OSError) as exc:  # numpy's errors do not name the file
        if isinstance(exc, FileNotFoundError):
            raise
        raise ValueError(f"cannot read depth {path}: not a valid .npy array "
                         f"({' '.join(str(exc).split())})") from None
    if not isinstance(arr, np.ndarray):
        raise ValueError(f"cannot read depth {path}: an .npz archive, not a .npy array")
    if arr.ndim == 3 and 1 in (arr.shape[0], arr.shape[-1]):
        arr = arr.reshape(arr.shape[1:] if arr.shape[0] == 1 else arr.shape[:2])
    if arr.ndim != 2 or arr.dtype.kind not in "fiu":
        raise ValueError(f"{path}: expected an (H, W) numeric depth map, got {arr.shape} "
                         f"{arr.dtype}")
    out = arr.astype(np.float32)
    out[~np.isfinite(out) | (out < 0)] = 0.0
    return out
