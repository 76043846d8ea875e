"""Fixed-range colour mapping of depth and error images (numpy; LUT from matplotlib or OpenCV).

Depth is never normalised per frame: the same depth always gets the same colour, so frames,
runs and models can be compared by eye. Depth is mapped through *inverse* depth over a fixed
``[min_depth, max_depth]`` range (near = bright, far = dark for ``magma``), which spends the
colour scale where a robot needs resolution.
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


def colorize_depth(
    depth: np.ndarray,
    min_depth: float = 1.0,
    max_depth: float = 80.0,
    cmap: str = DEFAULT_DEPTH_CMAP,
    invalid_color: tuple[int, int, int] = (0, 0, 0),
    order: str = "rgb",
) -> np.ndarray:
    """Colour a depth image (metres) by inverse depth over the fixed range ``[min, max]``.

    ``min_depth`` maps to the top of the colormap, ``max_depth`` (and beyond) to the bottom.
    Depth <= 0, NaN or inf is invalid and gets ``invalid_color``.
    """
    if not (0 < min_depth < max_depth):
        raise ValueError(f"need 0 < min_depth < max_depth, got {min_depth}, {max_depth}")
    depth = np.asarray(depth, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(np.isfinite(depth) & (depth > 0), 1.0 / depth, np.nan)
    return colorize(inv, 1.0 / max_depth, 1.0 / min_depth, cmap, invalid_color, order)


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
