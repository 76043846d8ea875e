"""Focal-length bookkeeping for metric depth across cameras (no torch import).

The network predicts depth for the preset's ``canonical_focal`` (pixels at the network input
size). An image resized to the network size has focal ``f_net = fx * net_width / src_width``;
the metric depth is ``depth * f_net / f_canonical``.

Stereo: the disparity in network pixels of a point at metric depth ``Z`` is ``f_net * B / Z``.
Written with the network's own (canonical) depth ``Z_c = Z * f_canonical / f_net`` it is
``f_canonical * B / Z_c``: the AV-LFE candidates are canonical depths, so the network is
given ``fb = f_canonical * B`` (``stereo_fb``). When ``f_net == f_canonical`` (training data
at the canonical focal) this is simply ``f_net * B``.
"""

from __future__ import annotations

from typing import TypeVar

ArrayLike = TypeVar("ArrayLike")


def _check_focal(label: str, value: float) -> float:
    value = float(value)
    if not value > 0:  # also rejects NaN
        raise ValueError(f"{label} must be a positive focal length in pixels, got {value}")
    return value


def network_focal(fx: float, src_width: int, net_width: int) -> float:
    """Focal in pixels after resizing an image from ``src_width`` to ``net_width`` columns."""
    if src_width <= 0 or net_width <= 0:
        raise ValueError(f"widths must be positive, got {src_width} and {net_width}")
    return _check_focal("fx", fx) * net_width / src_width


def resize_intrinsics(fx: float, fy: float, cx: float, cy: float, src_size: tuple[int, int],
                      dst_size: tuple[int, int]) -> tuple[float, float, float, float]:
    """Pinhole intrinsics after resizing (height, width) ``src_size`` to ``dst_size``.

    Pixel centres are at integer coordinates, so ``c' = (c + 0.5) * scale - 0.5``.
    """
    (sh, sw), (dh, dw) = src_size, dst_size
    if min(sh, sw, dh, dw) <= 0:
        raise ValueError(f"sizes must be positive, got {src_size} and {dst_size}")
    ky, kx = dh / sh, dw / sw
    return (_check_focal("fx", fx) * kx, _check_focal("fy", fy) * ky,
            (cx + 0.5) * kx - 0.5, (cy + 0.5) * ky - 0.5)


def depth_scale(f_net: float, f_canonical: float) -> float:
    """Factor from canonical-focal depth to metric depth for a camera with ``f_net``."""
    return _check_focal("f_net", f_net) / _check_focal("f_canonical", f_canonical)


def rescale_depth(depth: ArrayLike, f_net: float, f_canonical: float) -> ArrayLike:
    """Metric depth from the network's canonical-focal depth (tensor, array or float)."""
    return depth * depth_scale(f_net, f_canonical)  # type: ignore[operator]


def canonical_depth(depth: ArrayLike, f_net: float, f_canonical: float) -> ArrayLike:
    """Inverse of ``rescale_depth``: the training target for an image with focal ``f_net``."""
    return depth / depth_scale(f_net, f_canonical)  # type: ignore[operator]


def stereo_fb(baseline_m: float, f_canonical: float) -> float:
    """The ``fb`` given to the network for a rectified pair with baseline ``baseline_m``."""
    baseline = float(baseline_m)
    if not baseline > 0:
        raise ValueError(f"stereo baseline must be positive metres, got {baseline_m}")
    return _check_focal("f_canonical", f_canonical) * baseline
