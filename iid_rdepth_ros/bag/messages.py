"""Build and read the recorded messages as ``rosbags`` objects (numpy only, no ROS install).

Builders make ``sensor_msgs/Image``, ``CameraInfo``, ``PointCloud2`` and ``tf2_msgs/TFMessage``
objects of a ``rosbags`` typestore; :func:`serialize` turns them into CDR bytes for a bag or for
``rclpy``'s raw publish. Readers: :func:`stamp_ns` of any stamped message and
:func:`cloud_points` (x, y, z of any PointCloud2 layout). Image pixels are decoded by the node's
own ``ros.image_codec`` (it reads the same field names, so it takes these objects as they are).
"""

from __future__ import annotations

import sys
from functools import lru_cache
from typing import Any

import numpy as np

#: message types the bag tools use
IMAGE = "sensor_msgs/msg/Image"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
POINT_CLOUD2 = "sensor_msgs/msg/PointCloud2"
TF_MESSAGE = "tf2_msgs/msg/TFMessage"

#: PointField datatype -> numpy type
_FIELD_TYPES = {1: np.int8, 2: np.uint8, 3: np.int16, 4: np.uint16, 5: np.int32, 6: np.uint32,
                7: np.float32, 8: np.float64}


@lru_cache(maxsize=1)
def typestore() -> Any:
    """The rosbags typestore of ROS 2 Kilted (the distribution this package targets)."""
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_KILTED)


def _t(name: str) -> Any:
    return typestore().types[name]


def serialize(msg: Any, msgtype: str | None = None) -> bytes:
    """CDR bytes (with encapsulation header) of a typestore message."""
    return bytes(typestore().serialize_cdr(msg, msgtype or msg.__msgtype__))


def deserialize(data: bytes | memoryview, msgtype: str) -> Any:
    """A typestore message from CDR bytes."""
    return typestore().deserialize_cdr(bytes(data), msgtype)


def header(stamp_ns: int, frame_id: str) -> Any:
    """``std_msgs/Header`` of a stamp in nanoseconds."""
    time = _t("builtin_interfaces/msg/Time")(sec=int(stamp_ns // 1_000_000_000),
                                              nanosec=int(stamp_ns % 1_000_000_000))
    return _t("std_msgs/msg/Header")(stamp=time, frame_id=frame_id)


def stamp_ns(msg: Any) -> int:
    """Header stamp of a message in integer nanoseconds."""
    stamp = msg.header.stamp
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def image(pixels: np.ndarray, encoding: str, stamp: int, frame_id: str) -> Any:
    """``sensor_msgs/Image``: rgb8 ``(H, W, 3) uint8`` or 32FC1 ``(H, W) float32``."""
    pixels = np.ascontiguousarray(pixels)
    expected = {"rgb8": (np.uint8, 3), "bgr8": (np.uint8, 3), "mono8": (np.uint8, 2),
                "32FC1": (np.float32, 2)}
    if encoding not in expected:
        raise ValueError(f"unsupported encoding {encoding!r} (have {', '.join(expected)})")
    dtype, ndim = expected[encoding]
    if pixels.dtype != dtype or pixels.ndim != ndim:
        raise ValueError(f"{encoding} needs {ndim}-D {np.dtype(dtype)}, got {pixels.shape} "
                         f"{pixels.dtype}")
    h, w = pixels.shape[:2]
    return _t(IMAGE)(header=header(stamp, frame_id), height=h, width=w, encoding=encoding,
                     is_bigendian=int(sys.byteorder == "big" and pixels.itemsize > 1),
                     step=pixels.nbytes // h, data=pixels.view(np.uint8).reshape(-1))


def camera_info(hw: tuple[int, int], fx: float, fy: float, cx: float, cy: float, stamp: int,
                frame_id: str, baseline_m: float = 0.0) -> Any:
    """Rectified pinhole ``CameraInfo`` (no distortion, R = I); a right camera of a stereo
    pair gets ``P[3] = -fx * baseline_m``."""
    from iid_rdepth_ros.geometry.camera import Intrinsics, camera_info_fields

    roi = _t("sensor_msgs/msg/RegionOfInterest")(x_offset=0, y_offset=0, height=0, width=0,
                                                  do_rectify=False)
    fields = camera_info_fields(hw, Intrinsics(fx, fy, cx, cy), baseline_m)
    arrays = {key: np.asarray(fields[key], dtype=np.float64) for key in ("d", "k", "r", "p")}
    return _t(CAMERA_INFO)(header=header(stamp, frame_id), height=fields["height"],
                           width=fields["width"], distortion_model=fields["distortion_model"],
                           **arrays, binning_x=0, binning_y=0, roi=roi)


def point_cloud(points: np.ndarray, stamp: int, frame_id: str,
                intensity: np.ndarray | None = None) -> Any:
    """Unorganised ``PointCloud2`` of ``(N, 3)`` points: float32 x, y, z (+ intensity)."""
    pts = np.asarray(points, dtype=np.float32).reshape(-1, 3)
    names = ["x", "y", "z"] + ([] if intensity is None else ["intensity"])
    records = np.empty((len(pts), len(names)), dtype=np.float32)
    records[:, :3] = pts
    if intensity is not None:
        records[:, 3] = np.asarray(intensity, dtype=np.float32).reshape(-1)
    field = _t("sensor_msgs/msg/PointField")
    fields = [field(name=n, offset=4 * i, datatype=7, count=1) for i, n in enumerate(names)]
    step = 4 * len(names)
    return _t(POINT_CLOUD2)(header=header(stamp, frame_id), height=1, width=len(pts),
                            fields=fields, is_bigendian=sys.byteorder == "big", point_step=step,
                            row_step=step * len(pts), data=records.view(np.uint8).reshape(-1),
                            is_dense=True)


def tf_message(transforms: list[tuple[str, str, np.ndarray]], stamp: int) -> Any:
    """``tf2_msgs/TFMessage`` of ``(parent, child, T_parent_child 4x4)`` triples."""
    from iid_rdepth_ros.bag.transforms import matrix_to_quaternion

    items = []
    for parent, child, t in transforms:
        t = np.asarray(t, dtype=np.float64)
        qx, qy, qz, qw = matrix_to_quaternion(t[:3, :3])
        vec = _t("geometry_msgs/msg/Vector3")(x=float(t[0, 3]), y=float(t[1, 3]),
                                               z=float(t[2, 3]))
        quat = _t("geometry_msgs/msg/Quaternion")(x=qx, y=qy, z=qz, w=qw)
        items.append(_t("geometry_msgs/msg/TransformStamped")(
            header=header(stamp, parent), child_frame_id=child,
            transform=_t("geometry_msgs/msg/Transform")(translation=vec, rotation=quat)))
    return _t(TF_MESSAGE)(transforms=items)


def cloud_points(cloud: Any) -> np.ndarray:
    """``(N, 3)`` float64 x, y, z of a PointCloud2 (any field layout, padding, byte order,
    organised or not); points with a non-finite coordinate are dropped."""
    fields = {f.name: f for f in cloud.fields}
    missing = [n for n in ("x", "y", "z") if n not in fields]
    if missing:
        raise ValueError(f"point cloud has no field(s) {missing} (fields: {sorted(fields)})")
    n_rows, n_cols = int(cloud.height), int(cloud.width)
    step, row_step = int(cloud.point_step), int(cloud.row_step)
    raw = np.frombuffer(memoryview(cloud.data), dtype=np.uint8)
    if n_rows * n_cols == 0:
        return np.zeros((0, 3))
    if len(raw) < row_step * (n_rows - 1) + step * n_cols:
        raise ValueError(f"point cloud data has {len(raw)} bytes, too few for {n_rows}x{n_cols} "
                         f"points (point_step {step}, row_step {row_step})")
    order = ">" if cloud.is_bigendian else "<"
    out = np.empty((n_rows * n_cols, 3))
    for i, name in enumerate(("x", "y", "z")):
        f = fields[name]
        if f.datatype not in _FIELD_TYPES:
            raise ValueError(f"point field {name!r} has unknown datatype {f.datatype}")
        dtype = np.dtype(_FIELD_TYPES[f.datatype]).newbyteorder(order)
        if int(f.offset) + dtype.itemsize > step:
            raise ValueError(f"point field {name!r} lies outside point_step {step}")
        view = np.lib.stride_tricks.as_strided(
            raw[int(f.offset):], shape=(n_rows, n_cols, dtype.itemsize),
            strides=(row_step, step, 1), writeable=False)
        out[:, i] = np.ascontiguousarray(view).view(dtype).reshape(-1)
    return out[np.isfinite(out).all(axis=1)]
