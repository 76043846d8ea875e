"""sensor_msgs/Image <-> numpy, vectorised (cv_bridge when the ROS install provides it).

The numpy path handles the encodings the node meets: ``rgb8``, ``bgr8``, ``mono8``, ``rgba8``,
``bgra8`` (camera input) and ``32FC1`` (depth output), respecting the row ``step`` (padding
bytes at the end of each row) and ``is_bigendian``. No per-pixel Python loops: every
conversion is a strided view plus at most one copy.
"""

from __future__ import annotations

import array
import sys
from typing import Any

import numpy as np
from sensor_msgs.msg import Image
from std_msgs.msg import Header

#: encoding -> (numpy dtype, channels)
ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    "rgb8": (np.dtype(np.uint8), 3),
    "bgr8": (np.dtype(np.uint8), 3),
    "mono8": (np.dtype(np.uint8), 1),
    "rgba8": (np.dtype(np.uint8), 4),
    "bgra8": (np.dtype(np.uint8), 4),
    "32FC1": (np.dtype(np.float32), 1),
}
#: encodings accepted as camera input (converted to RGB for the network)
COLOR_ENCODINGS: tuple[str, ...] = ("rgb8", "bgr8", "mono8", "rgba8", "bgra8")

_HOST_BIG_ENDIAN = sys.byteorder == "big"


class ImageFormatError(ValueError):
    """An Image message cannot be decoded; the message says what is wrong with it."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def _cv_bridge() -> Any | None:
    try:
        from cv_bridge import CvBridge
    except ImportError:
        return None
    return CvBridge()


_BRIDGE = _cv_bridge()


def conversion_backend() -> str:
    """``"cv_bridge"`` when the ROS installation provides it, else ``"numpy"``."""
    return "cv_bridge" if _BRIDGE is not None else "numpy"


def check_image(msg: Image) -> tuple[np.dtype, int]:
    """Validate an Image's header fields against its data; return (dtype, channels).

    Raises :class:`ImageFormatError` with ``kind`` one of ``encoding``, ``empty``, ``step``,
    ``short_data``.
    """
    encoding = msg.encoding
    if encoding not in ENCODINGS:
        raise ImageFormatError(
            "encoding",
            f"unsupported encoding {encoding!r} (supported: {', '.join(ENCODINGS)})",
        )
    dtype, channels = ENCODINGS[encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height == 0 or width == 0:
        raise ImageFormatError("empty", f"image is empty ({width}x{height} pixels)")
    row_bytes = width * channels * dtype.itemsize
    if step < row_bytes:
        raise ImageFormatError(
            "step", f"step {step} is smaller than width*channels*bytes = {row_bytes} ({encoding})"
        )
    if len(msg.data) < step * height:
        raise ImageFormatError(
            "short_data",
            f"data has {len(msg.data)} bytes, expected step*height = {step * height} "
            f"({width}x{height} {encoding}, step {step})",
        )
    return dtype, channels


def image_to_array(msg: Image) -> np.ndarray:
    """Pixels of an Image as ``(H, W)`` or ``(H, W, C)`` in its own encoding and channel order.

    The result is a read-only view of the message buffer when no byte swap is needed (copy it
    before writing to it).
    """
    dtype, channels = check_image(msg)
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if dtype.itemsize > 1:
        dtype = dtype.newbyteorder(">" if msg.is_bigendian else "<")
    buffer = np.frombuffer(msg.data, dtype=np.uint8)
    rows = np.lib.stride_tricks.as_strided(
        buffer, shape=(height, width * channels * dtype.itemsize), strides=(step, 1),
        writeable=False,
    )
    pixels = rows.view(dtype).reshape(height, width, channels)
    if dtype.itemsize > 1 and not dtype.isnative:
        pixels = pixels.astype(dtype.newbyteorder("="))
    return pixels[..., 0] if channels == 1 else pixels


def image_to_rgb(msg: Image) -> np.ndarray:
    """A camera Image as contiguous ``(H, W, 3) uint8`` RGB (what the runtime takes)."""
    if msg.encoding not in COLOR_ENCODINGS:
        raise ImageFormatError(
            "encoding",
            f"unsupported camera image encoding {msg.encoding!r} "
            f"(supported: {', '.join(COLOR_ENCODINGS)})",
        )
    if _BRIDGE is not None:
        check_image(msg)
        return np.ascontiguousarray(_BRIDGE.imgmsg_to_cv2(msg, desired_encoding="rgb8"))
    pixels = image_to_array(msg)
    encoding = msg.encoding
    if encoding == "mono8":
        return np.repeat(pixels[..., None], 3, axis=2)
    if encoding in ("bgr8", "bgra8"):
        return np.ascontiguousarray(pixels[..., 2::-1])
    return np.ascontiguousarray(pixels[..., :3])


#: CompressedImage formats the node decodes (image_transport's ``compressed`` plugin)
COMPRESSED_FORMATS = ("jpeg", "png")


def compressed_to_rgb(msg: Any) -> np.ndarray:
    """A ``sensor_msgs/CompressedImage`` (jpeg or png, as image_transport's ``compressed``
    plugin writes it: format ``"jpeg"`` or ``"<encoding>; jpeg compressed <bgr8|rgb8|mono8>"``)
    decoded with OpenCV as contiguous ``(H, W, 3) uint8`` RGB."""
    import cv2

    fmt = str(msg.format).strip().lower()
    parts = fmt.split(";")[-1].split()
    codec = next((c for c in COMPRESSED_FORMATS if c in parts or fmt == c), None)
    if codec is None:
        raise ImageFormatError(
            "format", f"unsupported compressed image format {msg.format!r} (supported: "
            f"{', '.join(COMPRESSED_FORMATS)}, as image_transport's compressed plugin writes "
            "them)")
    stored = parts[-1] if len(parts) >= 3 and parts[-2] == "compressed" else "bgr8"
    data = np.frombuffer(bytes(msg.data), dtype=np.uint8)
    if data.size == 0:
        raise ImageFormatError("empty", "compressed image has no data")
    pixels = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if pixels is None:
        raise ImageFormatError("decode", f"{codec} data ({data.size} bytes) could not be "
                               "decoded")
    if pixels.dtype != np.uint8:
        raise ImageFormatError("encoding", f"compressed image is {pixels.dtype}, not 8-bit "
                               "colour or grey")
    if pixels.ndim == 2:
        return np.ascontiguousarray(np.repeat(pixels[..., None], 3, axis=2))
    if stored.startswith("rgb"):
        return np.ascontiguousarray(pixels[..., :3])
    return np.ascontiguousarray(pixels[..., 2::-1])


def _byte_array(values: np.ndarray) -> array.array:
    out = array.array("B")
    out.frombytes(memoryview(np.ascontiguousarray(values)).cast("B"))
    return out


def array_to_image(pixels: np.ndarray, encoding: str, header: Header | None = None) -> Image:
    """Build an Image (tightly packed, host byte order) from ``(H, W)`` / ``(H, W, C)`` pixels."""
    if encoding not in ENCODINGS:
        raise ValueError(f"unsupported encoding {encoding!r} (supported: {', '.join(ENCODINGS)})")
    dtype, channels = ENCODINGS[encoding]
    pixels = np.asarray(pixels)
    expected = 2 if channels == 1 else 3
    if pixels.ndim != expected or (channels > 1 and pixels.shape[2] != channels):
        raise ValueError(
            f"{encoding} needs shape (H, W{'' if channels == 1 else f', {channels}'}), "
            f"got {pixels.shape}"
        )
    if pixels.dtype != dtype:
        raise ValueError(f"{encoding} needs dtype {dtype}, got {pixels.dtype}")
    height, width = pixels.shape[:2]
    if _BRIDGE is not None:
        msg = _BRIDGE.cv2_to_imgmsg(np.ascontiguousarray(pixels), encoding=encoding)
    else:
        msg = Image(height=height, width=width, encoding=encoding,
                    is_bigendian=int(_HOST_BIG_ENDIAN and dtype.itemsize > 1),
                    step=width * channels * dtype.itemsize)
        msg.data = _byte_array(pixels)
    if header is not None:
        msg.header = header
    return msg


def depth_to_image(depth: np.ndarray, header: Header) -> Image:
    """Depth in metres ``(H, W)`` (NaN invalid) as a ``32FC1`` Image with the given header."""
    return array_to_image(np.asarray(depth, dtype=np.float32), "32FC1", header)
