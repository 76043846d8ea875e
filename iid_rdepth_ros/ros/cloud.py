"""Organised sensor_msgs/PointCloud2 from a depth image (numpy; sensor_msgs_py when present).

Fields are float32 ``x, y, z`` and optionally ``rgb`` (a uint32 ``0x00RRGGBB`` stored in a
float32 field, the layout rviz and PCL read). The cloud is organised (``height`` rows of
``width`` points, row-major), NaN where the depth is invalid, ``is_dense = False``, host byte
order: the same message ``sensor_msgs_py.point_cloud2.create_cloud`` builds from the flattened
structured array, with height/width then set to the image grid.
"""

from __future__ import annotations

import array
import sys
from typing import Any

import numpy as np
from sensor_msgs.msg import PointCloud2, PointField
from std_msgs.msg import Header

from iid_rdepth_ros.geometry.backproject import backproject
from iid_rdepth_ros.geometry.distortion import Distortion, undistorted_rays
from iid_rdepth_ros.runtime.config import Intrinsics


def _sensor_msgs_py() -> Any | None:
    try:
        from sensor_msgs_py import point_cloud2
    except ImportError:
        return None
    return point_cloud2


_PC2 = _sensor_msgs_py()


def cloud_fields(color: bool) -> list[PointField]:
    """PointFields ``x, y, z`` (+ ``rgb``), all FLOAT32, packed without padding."""
    names = ("x", "y", "z", "rgb") if color else ("x", "y", "z")
    return [PointField(name=n, offset=4 * i, datatype=PointField.FLOAT32, count=1)
            for i, n in enumerate(names)]


def pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """``(..., 3) uint8`` RGB -> ``(...)`` float32 whose bits are the uint32 ``0x00RRGGBB``."""
    rgb = np.asarray(rgb)
    if rgb.shape[-1] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"rgb must be (..., 3) uint8, got {rgb.shape} {rgb.dtype}")
    c = rgb.astype(np.uint32)
    packed = (c[..., 0] << 16) | (c[..., 1] << 8) | c[..., 2]
    return packed.view(np.float32)


def unpack_rgb(packed: np.ndarray) -> np.ndarray:
    """Inverse of :func:`pack_rgb`: float32 packed colours -> ``(..., 3) uint8`` RGB."""
    bits = np.asarray(packed, dtype=np.float32).view(np.uint32)
    return np.stack([(bits >> 16) & 255, (bits >> 8) & 255, bits & 255], axis=-1).astype(
        np.uint8)


def sample_colors(image: np.ndarray, grid_hw: tuple[int, int], stride: int) -> np.ndarray:
    """Colours of the cloud points: for each kept depth pixel (every ``stride``-th row and
    column of a depth image of size ``grid_hw``), the nearest pixel of ``image``.

    ``image`` may have another size than the depth (``output_resolution: network``); pixel
    centres are mapped with the half-pixel convention.
    """
    h, w = grid_hw
    ih, iw = image.shape[:2]
    if (ih, iw) == (h, w):
        return image[::stride, ::stride]  # a view, no copy
    rows = np.arange(0, h, stride)
    cols = np.arange(0, w, stride)
    rows = np.clip(np.floor((rows + 0.5) * ih / h).astype(np.intp), 0, ih - 1)
    cols = np.clip(np.floor((cols + 0.5) * iw / w).astype(np.intp), 0, iw - 1)
    return image[rows[:, None], cols[None, :]]


def points_array(xyz: np.ndarray, rgb: np.ndarray | None = None) -> np.ndarray:
    """Pack ``(H, W, 3)`` float32 points (+ ``(H, W, 3)`` uint8 RGB) into the record layout of
    :func:`cloud_fields`: a ``(H, W, 3 or 4)`` float32 array, one record per point."""
    xyz = np.asarray(xyz, dtype=np.float32)
    if xyz.ndim != 3 or xyz.shape[2] != 3:
        raise ValueError(f"xyz must be (H, W, 3), got {xyz.shape}")
    if rgb is None:
        return np.ascontiguousarray(xyz)
    if rgb.shape != xyz.shape:
        raise ValueError(f"rgb must have the shape of xyz {xyz.shape}, got {rgb.shape}")
    records = np.empty(xyz.shape[:2] + (4,), dtype=np.float32)
    records[..., :3] = xyz
    records[..., 3] = pack_rgb(rgb)
    return records


def _check_records(records: np.ndarray) -> None:
    if records.ndim != 3 or records.shape[2] not in (3, 4) or records.dtype != np.float32:
        raise ValueError(f"records must be (H, W, 3|4) float32, got {records.shape} "
                         f"{records.dtype}")


def build_cloud_numpy(header: Header, records: np.ndarray) -> PointCloud2:
    """The numpy builder behind :func:`build_cloud` (used when sensor_msgs_py is absent)."""
    _check_records(records)
    height, width, n = records.shape
    cloud = PointCloud2(header=header, height=height, width=width,
                        fields=cloud_fields(color=n == 4), is_bigendian=sys.byteorder != "little",
                        point_step=4 * n, row_step=4 * n * width, is_dense=False)
    data = array.array("B")
    data.frombytes(memoryview(np.ascontiguousarray(records)).cast("B"))
    cloud.data = data
    return cloud


def build_cloud(header: Header, records: np.ndarray) -> PointCloud2:
    """Organised PointCloud2 from ``(H, W, 3|4)`` float32 records (see :func:`points_array`).

    Uses ``sensor_msgs_py.point_cloud2.create_cloud`` on the flattened records when the ROS
    installation provides it (its 2-D input convention is (width, height), so height/width are
    set afterwards), else :func:`build_cloud_numpy`; both give the same message.
    """
    if _PC2 is None:
        return build_cloud_numpy(header, records)
    _check_records(records)
    height, width, n = records.shape
    fields = cloud_fields(color=n == 4)
    flat = np.ascontiguousarray(records).reshape(-1).view(_PC2.dtype_from_fields(fields))
    cloud = _PC2.create_cloud(header, fields, flat.reshape(-1))
    cloud.height, cloud.width = height, width
    cloud.row_step = width * cloud.point_step
    return cloud


class CloudBuilder:
    """Builds organised clouds fast by caching the unit rays of the pixel grid.

    The rays are ``geometry.backproject`` of a unit depth (so the projection model lives in
    one place), or ``geometry.distortion.undistorted_rays`` for a camera with lens distortion;
    per frame the cloud is ``ray * z`` written straight into the message records, and colours
    are written as bytes of the packed ``rgb`` field. Same result as
    :func:`depth_to_cloud_reference` (tested), several times faster.
    """

    def __init__(self, cache_size: int = 4) -> None:
        self._rays: dict[tuple, tuple[np.ndarray, np.ndarray | None]] = {}
        self._cache_size = cache_size

    def _cached(self, hw: tuple[int, int], intrinsics: Intrinsics, stride: int,
                distortion: Distortion | None) -> tuple[np.ndarray, np.ndarray | None]:
        """(rays, mask of the kept pixels without a ray or None), computed once per camera."""
        if distortion is not None and distortion.is_zero:
            distortion = None  # a pinhole: the rays through P, as without distortion
        if distortion is None:
            key: tuple = (tuple(hw), stride, intrinsics.fx, intrinsics.fy, intrinsics.cx,
                          intrinsics.cy)
        else:  # the rays come from K and D alone; P is not used
            key = (tuple(hw), stride, distortion)
        entry = self._rays.get(key)
        if entry is None:
            if distortion is None:
                unit = backproject(np.ones(hw, np.float32), intrinsics.fx, intrinsics.fy,
                                   intrinsics.cx, intrinsics.cy, stride=stride)
                entry = (np.ascontiguousarray(unit[..., :2]), None)
            else:
                rays = undistorted_rays(tuple(hw), distortion, stride)
                missing = np.isnan(rays[..., 0])
                entry = (rays, missing if missing.any() else None)
            if len(self._rays) >= self._cache_size:
                self._rays.pop(next(iter(self._rays)))
            self._rays[key] = entry
        return entry

    def rays(self, hw: tuple[int, int], intrinsics: Intrinsics, stride: int,
             distortion: Distortion | None = None) -> np.ndarray:
        """``(H', W', 2)`` float32 rays ``(x, y)`` (at ``z = 1``) of the kept pixels:
        ``((u - cx) / fx, (v - cy) / fy)`` through ``intrinsics``, or, for a ``distortion``
        with non-zero coefficients, the undistorted normalized point of each pixel through its
        K and D (NaN where the model has none)."""
        return self._cached(hw, intrinsics, stride, distortion)[0]

    def records(self, depth: np.ndarray, intrinsics: Intrinsics, stride: int = 1,
                image: np.ndarray | None = None, distortion: Distortion | None = None
                ) -> np.ndarray:
        """``(H', W', 3|4)`` float32 records (see :func:`points_array`) of a depth image."""
        depth = np.asarray(depth)
        if depth.ndim != 2:
            raise ValueError(f"depth must be a 2-D (H, W) array, got shape {depth.shape}")
        if stride < 1:
            raise ValueError(f"stride must be >= 1, got {stride}")
        rays, missing = self._cached(depth.shape, intrinsics, stride, distortion)
        z = depth[::stride, ::stride].astype(np.float32)
        with np.errstate(invalid="ignore"):
            z[~(np.isfinite(z) & (z > 0))] = np.nan
        if missing is not None:  # pixels the distortion model has no ray for
            z[missing] = np.nan
        records = np.empty(z.shape + (3 if image is None else 4,), dtype=np.float32)
        np.multiply(rays[..., 0], z, out=records[..., 0])
        np.multiply(rays[..., 1], z, out=records[..., 1])
        records[..., 2] = z
        if image is not None:
            rgb = sample_colors(image, depth.shape, stride)
            as_bytes = records.view(np.uint8).reshape(z.shape + (16,))
            # uint32 0x00RRGGBB in host byte order: bytes B, G, R, 0 on little-endian
            order = (2, 1, 0) if sys.byteorder == "little" else (0, 1, 2)
            first = 12 if sys.byteorder == "little" else 13
            for offset, channel in enumerate(order):
                as_bytes[..., first + offset] = rgb[..., channel]
            as_bytes[..., 15 if sys.byteorder == "little" else 12] = 0
        return records

    def cloud(self, depth: np.ndarray, intrinsics: Intrinsics, header: Header,
              stride: int = 1, image: np.ndarray | None = None,
              distortion: Distortion | None = None) -> PointCloud2:
        """Organised PointCloud2 of a depth image (metres, NaN invalid); ``intrinsics`` (P)
        and ``distortion`` (its K) at the depth's size."""
        return build_cloud(header, self.records(depth, intrinsics, stride, image, distortion))


_BUILDER = CloudBuilder()


def depth_to_cloud(
    depth: np.ndarray,
    intrinsics: Intrinsics,
    header: Header,
    stride: int = 1,
    image: np.ndarray | None = None,
    distortion: Distortion | None = None,
) -> PointCloud2:
    """Organised cloud of a depth image (metres, NaN invalid) through its intrinsics.

    Point ``(r, c)`` of the cloud is depth pixel ``(r * stride, c * stride)``; ``image``
    (``(H, W, 3) uint8`` RGB, any size) adds the ``rgb`` field; ``distortion`` (K and D at the
    depth's size) gives the rays of a camera with lens distortion. Uses a shared
    :class:`CloudBuilder` (ray cache); thread-safe for one caller per image size.
    """
    return _BUILDER.cloud(depth, intrinsics, header, stride, image, distortion)


def depth_to_cloud_reference(
    depth: np.ndarray,
    intrinsics: Intrinsics,
    header: Header,
    stride: int = 1,
    image: np.ndarray | None = None,
) -> PointCloud2:
    """:func:`depth_to_cloud` straight through ``geometry.backproject`` and :func:`pack_rgb`
    (no caching): the reference the fast path is tested against."""
    xyz = backproject(depth, intrinsics.fx, intrinsics.fy, intrinsics.cx, intrinsics.cy,
                      stride=stride)
    rgb = None if image is None else sample_colors(image, depth.shape, stride)
    return build_cloud(header, points_array(xyz, rgb))


def cloud_to_array(cloud: PointCloud2) -> np.ndarray:
    """Read back an organised float32 cloud as ``(height, width, len(fields))`` float32."""
    n = len(cloud.fields)
    if any(f.datatype != PointField.FLOAT32 or f.offset != 4 * i
           for i, f in enumerate(cloud.fields)) or cloud.point_step != 4 * n:
        raise ValueError("cloud_to_array reads only packed float32 fields")
    dtype = np.dtype(">f4" if cloud.is_bigendian else "<f4")
    rows = np.frombuffer(cloud.data, dtype=np.uint8).reshape(cloud.height, cloud.row_step)
    values = rows[:, : cloud.width * cloud.point_step].copy().view(dtype)
    return values.reshape(cloud.height, cloud.width, n).astype(np.float32)
