"""Fixed-range colour mapping of depth and error images (numpy; LUT from matplotlib or OpenCV).

Depth is never normalised per frame: the same depth always gets the same colour, so frames,
runs and models can be compared by eye. Depth is mapped over a fixed ``[min_depth, max_depth]``
range, near = top of the colormap (bright for ``magma``), far = bottom, on one of three scales:

- ``log`` (default): ``log(max/d) / log(max/min)``; equal depth *ratios* get equal colour steps,
  so 1-80 m uses the whole colour range (2, 5, 10, 20, 40 m at 0.84, 0.63, 0.47, 0.32, 0.16).
- ``inverse``: ``(1/d - 1/max) / (1/min - 1/max)``, linear in disparity; resolves the near
  range, everything beyond ~10 m of a 1-80 m range is in the darkest tenth.
- ``linear``: ``(max - d) / (max - min)``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

DEFAULT_DEPTH_CMAP = "magma"
DEFAULT_ERROR_CMAP = "inferno"

_CV2_NAMES = {
    "magma": "COLORMAP_MAGMA",
    "inferno": "COLORMAP_INFERNO",
    "plasma": "COLORMAP_PLASMA",
    "viridis": "COLORMAP_VIRIDIS",
    "turbo": "COLORMAP_TURBO",
    "jet": "COLORMAP_JET",
}


@lru_cache(maxsize=16)
def colormap_lut(name: str) -> np.ndarray:
    """256x3 uint8 RGB lookup table for a named colormap (read-only array).

    Taken from matplotlib when it is installed (any of its colormap names), else from OpenCV
    for the names both share (magma, inferno, plasma, viridis, turbo, jet).
    """
    lut: np.ndarray | None = None
    try:
        import matplotlib

        try:
            cmap = matplotlib.colormaps[name]
        except KeyError:
            raise ValueError(f"unknown colormap {name!r}") from None
        rgba = cmap(np.linspace(0.0, 1.0, 256))
        lut = np.round(rgba[:, :3] * 255.0).astype(np.uint8)
    except ImportError:
        if name not in _CV2_NAMES:
            raise ValueError(
                f"colormap {name!r} needs matplotlib; without it use one of {sorted(_CV2_NAMES)}"
            ) from None
        try:
            import cv2
        except ImportError:
            raise ImportError(
                "colour maps need matplotlib or opencv (cv2); neither imports"
            ) from None
        ramp = np.arange(256, dtype=np.uint8).reshape(256, 1)
        bgr = cv2.applyColorMap(ramp, getattr(cv2, _CV2_NAMES[name])).reshape(256, 3)
        lut = bgr[:, ::-1].copy()
    lut.setflags(write=False)
    return lut


def colorize(
    values: np.ndarray,
    vmin: float,
    vmax: float,
    cmap: str,
    invalid_color: tuple[int, int, int] = (0, 0, 0),
    order: str = "rgb",
) -> np.ndarray:
    """Map ``values (H, W)`` linearly from the fixed range ``[vmin, vmax]`` to colours.

    Values outside the range are clipped to its ends; non-finite values get ``invalid_color``
    (given as RGB). Returns ``(H, W, 3)`` uint8 in ``order`` "rgb" or "bgr".
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2:
        raise ValueError(f"values must be a 2-D (H, W) array, got shape {values.shape}")
    if not (np.isfinite(vmin) and np.isfinite(vmax) and vmax > vmin):
        raise ValueError(f"need finite vmin < vmax, got vmin={vmin} vmax={vmax}")
    if order not in ("rgb", "bgr"):
        raise ValueError(f"order must be 'rgb' or 'bgr', got {order!r}")
    lut = colormap_lut(cmap)
    valid = np.isfinite(values)
    t = np.clip((np.where(valid, values, vmin) - vmin) / (vmax - vmin), 0.0, 1.0)
    out = lut[np.round(t * 255.0).astype(np.intp)]
    out[~valid] = np.asarray(invalid_color, dtype=np.uint8)
    return out[..., ::-1].copy() if order == "bgr" else out


DEPTH_SCALES = ("log", "inverse", "linear")


def depth_to_unit(depth: np.ndarray, min_depth: float, max_depth: float,
                  scale: str = "log") -> np.ndarray:
    """Depth -> position in ``[0, 1]`` on the colour scale (1 = near end); NaN stays invalid.

    Depth <= 0, NaN or inf gives NaN; other values are clipped to ``[min_depth, max_depth]``.
    """
    if not (0 < min_depth < max_depth):
        raise ValueError(f"need 0 < min_depth < max_depth, got {min_depth}, {max_depth}")
    if scale not in DEPTH_SCALES:
        raise ValueError(f"scale must be one of {DEPTH_SCALES}, got {scale!r}")
    depth = np.asarray(depth, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(depth) & (depth > 0)
    d = np.clip(np.where(valid, depth, max_depth), min_depth, max_depth)
    if scale == "log":
        t = np.log(max_depth / d) / np.log(max_depth / min_depth)
    elif scale == "inverse":
        t = (1.0 / d - 1.0 / max_depth) / (1.0 / min_depth - 1.0 / max_depth)
    else:
        t = (max_depth - d) / (max_depth - min_depth)
    return np.where(valid, t, np.nan)


def colorize_depth(
    depth: np.ndarray,
    min_depth: float = 1.0,
    max_depth: float = 80.0,
    cmap: str = DEFAULT_DEPTH_CMAP,
    invalid_color: tuple[int, int, int] = (0, 0, 0),
    order: str = "rgb",
    scale: str = "log",
) -> np.ndarray:
    """Colour a depth image (metres) over the fixed range ``[min_depth, max_depth]``.

    ``min_depth`` (and nearer) maps to the top of the colormap, ``max_depth`` (and beyond) to
    the bottom, on ``scale`` (see module docstring). Depth <= 0, NaN or inf is invalid and gets
    ``invalid_color``. Returns ``(H, W, 3)`` uint8 in ``order`` "rgb" or "bgr".
    """
    depth = np.asarray(depth)
    if depth.ndim != 2:
        raise ValueError(f"depth must be a 2-D (H, W) array, got shape {depth.shape}")
    t = depth_to_unit(depth, min_depth, max_depth, scale)
    return colorize(t, 0.0, 1.0, cmap, invalid_color, order)


def colorize_error(
    error: np.ndarray,
    max_error: float = 0.5,
    cmap: str = DEFAULT_ERROR_CMAP,
    invalid_color: tuple[int, int, int] = (0, 0, 0),
    order: str = "rgb",
) -> np.ndarray:
    """Colour a non-negative error image over the fixed range ``[0, max_error]`` (NaN invalid)."""
    if not max_error > 0:
        raise ValueError(f"max_error must be positive, got {max_error}")
    return colorize(error, 0.0, max_error, cmap, invalid_color, order)
