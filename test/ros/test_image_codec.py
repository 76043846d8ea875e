"""Image conversions of the node: encodings, steps, byte order, depth images, bad input."""

from __future__ import annotations

import sys

import numpy as np
import pytest

pytest.importorskip("rclpy")

from sensor_msgs.msg import Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from iid_rdepth_ros.ros.image_codec import (  # noqa: E402
    ImageFormatError,
    array_to_image,
    depth_to_image,
    image_to_array,
    image_to_rgb,
)

RNG = np.random.default_rng(7)


def _raw_image(pixels: np.ndarray, encoding: str, pad: int = 0, big_endian: bool = False
               ) -> Image:
    """An Image built by hand, rows padded with ``pad`` junk bytes (independent of the codec)."""
    height, width = pixels.shape[:2]
    dtype = pixels.dtype.newbyteorder(">" if big_endian else "<")
    rows = pixels.astype(dtype).reshape(height, -1).view(np.uint8)
    junk = RNG.integers(0, 256, size=(height, pad), dtype=np.uint8)
    data = np.concatenate([rows, junk], axis=1)
    msg = Image(height=height, width=width, encoding=encoding, is_bigendian=int(big_endian),
                step=data.shape[1])
    msg.data = data.tobytes()
    return msg


@pytest.mark.parametrize("pad", [0, 5])
def test_color_encodings_to_rgb(pad: int) -> None:
    rgb = RNG.integers(0, 256, size=(7, 9, 3), dtype=np.uint8)
    alpha = RNG.integers(0, 256, size=(7, 9, 1), dtype=np.uint8)
    cases = {
        "rgb8": rgb,
        "bgr8": rgb[..., ::-1],
        "rgba8": np.concatenate([rgb, alpha], axis=2),
        "bgra8": np.concatenate([rgb[..., ::-1], alpha], axis=2),
    }
    for encoding, pixels in cases.items():
        out = image_to_rgb(_raw_image(np.ascontiguousarray(pixels), encoding, pad))
        assert out.shape == (7, 9, 3) and out.dtype == np.uint8 and out.flags.c_contiguous
        np.testing.assert_array_equal(out, rgb, err_msg=encoding)
    gray = rgb[..., 0].copy()
    out = image_to_rgb(_raw_image(gray, "mono8", pad))
    np.testing.assert_array_equal(out, np.stack([gray] * 3, axis=2))


@pytest.mark.parametrize("big_endian", [False, True])
def test_float_image_respects_step_and_byte_order(big_endian: bool) -> None:
    depth = RNG.uniform(0.5, 80.0, size=(5, 6)).astype(np.float32)
    depth[1, 2] = np.nan
    msg = _raw_image(depth, "32FC1", pad=8, big_endian=big_endian)
    out = image_to_array(msg)
    assert out.dtype.isnative and out.shape == (5, 6)
    np.testing.assert_array_equal(out, depth)


def test_depth_image_round_trip_and_layout() -> None:
    depth = RNG.uniform(0.5, 80.0, size=(4, 3)).astype(np.float32)
    depth[0, 0] = np.nan
    header = Header(frame_id="cam")
    header.stamp.sec, header.stamp.nanosec = 12, 345
    msg = depth_to_image(depth, header)
    assert (msg.encoding, msg.height, msg.width, msg.step) == ("32FC1", 4, 3, 12)
    assert msg.is_bigendian == int(sys.byteorder == "big")
    assert len(msg.data) == 48 and msg.header.frame_id == "cam"
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (12, 345)
    np.testing.assert_array_equal(image_to_array(msg), depth)
    bgr = RNG.integers(0, 256, size=(4, 3, 3), dtype=np.uint8)
    np.testing.assert_array_equal(image_to_rgb(array_to_image(bgr, "bgr8")), bgr[..., ::-1])


def test_bad_images_raise_with_kind() -> None:
    good = _raw_image(np.zeros((4, 4, 3), np.uint8), "rgb8")
    bad = Image(height=4, width=4, encoding="yuv422", step=8)
    bad.data = bytes(32)
    with pytest.raises(ImageFormatError, match="unsupported encoding 'yuv422'") as err:
        image_to_rgb(bad)
    assert err.value.kind == "encoding"
    empty = Image(height=0, width=4, encoding="rgb8", step=12)
    with pytest.raises(ImageFormatError, match="empty") as err:
        image_to_rgb(empty)
    assert err.value.kind == "empty"
    short = Image(height=4, width=4, encoding="rgb8", step=12)
    short.data = bytes(good.data)[:40]
    with pytest.raises(ImageFormatError, match="step\\*height = 48") as err:
        image_to_rgb(short)
    assert err.value.kind == "short_data"
    narrow = Image(height=4, width=4, encoding="rgb8", step=10)
    narrow.data = bytes(48)
    with pytest.raises(ImageFormatError, match="step 10") as err:
        image_to_rgb(narrow)
    assert err.value.kind == "step"
    depth = _raw_image(np.ones((2, 2), np.float32), "32FC1")
    with pytest.raises(ImageFormatError, match="not a camera encoding"):
        image_to_rgb(depth)
    with pytest.raises(ValueError, match="32FC1 needs dtype float32"):
        array_to_image(np.zeros((2, 2)), "32FC1")
