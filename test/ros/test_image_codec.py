"""Image conversions of the node: encodings, steps, byte order, depth images, bad input."""

from __future__ import annotations

import sys

import numpy as np
import pytest

pytest.importorskip("rclpy")

from sensor_msgs.msg import CompressedImage, Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from iid_rdepth_ros.ros.image_codec import (  # noqa: E402
    ImageFormatError,
    array_to_image,
    compressed_to_rgb,
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
    with pytest.raises(ImageFormatError) as err:
        image_to_rgb(bad)
    assert str(err.value) == ("unsupported camera image encoding 'yuv422' (supported: rgb8, "
                              "bgr8, mono8, rgba8, bgra8)")
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
    with pytest.raises(ImageFormatError, match="unsupported camera image encoding '32FC1'"):
        image_to_rgb(depth)
    with pytest.raises(ValueError, match="32FC1 needs dtype float32"):
        array_to_image(np.zeros((2, 2)), "32FC1")


def _compressed(pixels: np.ndarray, fmt: str, ext: str = ".png") -> CompressedImage:
    import cv2

    ok, data = cv2.imencode(ext, pixels)
    assert ok
    msg = CompressedImage(format=fmt)
    msg.data = data.tobytes()
    return msg


def test_compressed_images_decode_to_rgb() -> None:
    rgb = RNG.integers(0, 256, size=(6, 5, 3), dtype=np.uint8)
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    # image_transport's compressed plugin: colour stored as bgr8
    for fmt in ("png", "bgr8; png compressed bgr8", "rgb8; png compressed bgr8"):
        np.testing.assert_array_equal(compressed_to_rgb(_compressed(bgr, fmt)), rgb)
    np.testing.assert_array_equal(compressed_to_rgb(_compressed(rgb, "rgb8; png compressed rgb8")),
                                  rgb)
    grey = rgb[..., 0].copy()
    out = compressed_to_rgb(_compressed(grey, "mono8; png compressed mono8"))
    assert out.shape == (6, 5, 3) and np.array_equal(out[..., 1], grey)
    v, u = np.mgrid[0:16, 0:24]
    smooth = np.stack([u * 10, v * 15, 255 - u * 10], axis=-1).astype(np.uint8)  # RGB ramps
    jpeg = compressed_to_rgb(_compressed(np.ascontiguousarray(smooth[..., ::-1]),
                                         "bgr8; jpeg compressed bgr8", ".jpg"))
    assert jpeg.shape == smooth.shape and np.abs(jpeg.astype(int) - smooth).mean() < 4
    with pytest.raises(ImageFormatError) as err:
        compressed_to_rgb(CompressedImage(format="h264"))
    assert err.value.kind == "format"
    assert str(err.value) == ("unsupported compressed image format 'h264' (supported: jpeg, "
                              "png, as image_transport's compressed plugin writes them)")
    broken = CompressedImage(format="jpeg")
    broken.data = b"not a jpeg"
    with pytest.raises(ImageFormatError, match="could not be decoded") as err:
        compressed_to_rgb(broken)
    assert err.value.kind == "decode"
