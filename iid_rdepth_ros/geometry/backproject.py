"""Back-projection of a depth image through a pinhole camera (numpy only).

Convention (OpenCV / ROS ``sensor_msgs/CameraInfo``): pixel ``(u, v)`` = (column, row) has its
centre at integer coordinates, the optical frame has x right, y down, z forward, and a point at
depth ``z`` seen at pixel ``(u, v)`` is ``((u - cx) z / fx, (v - cy) z / fy, z)``.
"""

from __future__ import annotations

import numpy as np


def intrinsics_matrix(fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    """3x3 pinhole matrix ``K`` as float64."""
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]], dtype=np.float64)


def _check_intrinsics(fx: float, fy: float, cx: float, cy: float) -> None:
    values = np.array([fx, fy, cx, cy], dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise ValueError(f"intrinsics must be finite, got fx={fx} fy={fy} cx={cx} cy={cy}")
    if fx <= 0 or fy <= 0:
        raise ValueError(f"focal lengths must be positive, got fx={fx} fy={fy}")


def backproject(
    depth: np.ndarray,
    fx: float,
    fy: float,
    cx: float,
    cy: float,
    stride: int = 1,
    min_depth: float = 0.0,
    max_depth: float = float("inf"),
) -> np.ndarray:
    """Organised point cloud ``(H', W', 3)`` float32 from a depth image ``(H, W)`` in metres.

    ``stride`` keeps every ``stride``-th row and column (starting at 0; intrinsics stay those of
    the full image). Pixels whose depth is not finite or outside ``(min_depth, max_depth]`` give
    NaN points, as in an organised ROS ``PointCloud2``.
    """
    depth = np.asarray(depth)
    if depth.ndim != 2:
        raise ValueError(f"depth must be a 2-D (H, W) array, got shape {depth.shape}")
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    _check_intrinsics(fx, fy, cx, cy)
    z = depth[::stride, ::stride].astype(np.float64)
    rows = np.arange(0, depth.shape[0], stride, dtype=np.float64)
    cols = np.arange(0, depth.shape[1], stride, dtype=np.float64)
    u, v = np.meshgrid(cols, rows)
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(z) & (z > min_depth) & (z <= max_depth)
    z = np.where(valid, z, np.nan)
    points = np.stack([(u - cx) * z / fx, (v - cy) * z / fy, z], axis=-1)
    return points.astype(np.float32)


def point_cloud(
    depth: np.ndarray,
    fx: float,
    fy: float,
    cx: float,
    cy: float,
    image: np.ndarray | None = None,
    stride: int = 1,
    min_depth: float = 0.0,
    max_depth: float = float("inf"),
) -> tuple[np.ndarray, np.ndarray | None]:
    """Unorganised cloud of the valid pixels: ``points (N, 3) float32`` and ``colors (N, 3)``.

    ``image`` (``(H, W, 3)`` uint8, same size as ``depth``) gives per-point colours in the
    image's channel order; ``colors`` is None without it. Invalid pixels are dropped.
    """
    depth = np.asarray(depth)
    organised = backproject(depth, fx, fy, cx, cy, stride, min_depth, max_depth)
    keep = np.isfinite(organised[..., 2])
    points = organised[keep]
    if image is None:
        return points, None
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[:2] != depth.shape or image.shape[2] != 3:
        raise ValueError(
            f"image must be (H, W, 3) matching depth {depth.shape}, got shape {image.shape}"
        )
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8, got {image.dtype}")
    colors = image[::stride, ::stride][keep]
    return points, colors
