"""``depth/colorized`` fast: exactly the colours of ``geometry.colorize_depth``.

The depth -> colour-scale position is ``geometry.colormap.depth_to_unit`` (same scales, same
fixed range) and the table is ``geometry.colormap.colormap_lut``; only the last step (index,
invalid pixels, BGR order) is done here in one gather from a cached BGR table with an extra
row for invalid pixels, instead of several full-image passes.
"""

from __future__ import annotations

import numpy as np

from iid_rdepth_ros.geometry.colormap import colormap_lut, depth_to_unit


class DepthColorizer:
    """Callable ``(depth, min_depth, max_depth, cmap, scale) -> (H, W, 3) uint8 BGR`` with
    cached lookup tables (one extra row, the invalid colour)."""

    def __init__(self, invalid_bgr: tuple[int, int, int] = (0, 0, 0)) -> None:
        self._invalid = np.asarray(invalid_bgr, dtype=np.uint8)
        self._luts: dict[str, np.ndarray] = {}

    def lut(self, cmap: str) -> np.ndarray:
        """``(257, 3)`` BGR table: the 256 colours of ``cmap``, then the invalid colour."""
        table = self._luts.get(cmap)
        if table is None:
            table = np.ascontiguousarray(np.vstack([colormap_lut(cmap)[:, ::-1],
                                                    self._invalid[None]]))
            self._luts[cmap] = table
        return table

    def __call__(self, depth: np.ndarray, min_depth: float, max_depth: float, cmap: str,
                 scale: str = "log") -> np.ndarray:
        depth = np.asarray(depth)
        if depth.ndim != 2:
            raise ValueError(f"depth must be a 2-D (H, W) array, got shape {depth.shape}")
        lut = self.lut(cmap)
        t = depth_to_unit(depth, min_depth, max_depth, scale)  # NaN where invalid
        t *= 255.0
        t[np.isnan(t)] = 256.0
        return lut[np.rint(t).astype(np.intp)]


_COLORIZER = DepthColorizer()


def colorize_depth_bgr(depth: np.ndarray, min_depth: float, max_depth: float,
                       cmap: str) -> np.ndarray:
    """BGR colours of a depth image (default scale) through a shared :class:`DepthColorizer`."""
    return _COLORIZER(depth, min_depth, max_depth, cmap)
