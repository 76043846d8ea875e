"""Image, CameraInfo and PointCloud2 conversions of the node (no DDS, no model)."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

pytest.importorskip("rclpy")

from sensor_msgs.msg import CameraInfo, Image, PointField  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from iid_rdepth_ros.ros.camera_info import (  # noqa: E402
    CameraInfoError,
    baseline_from_info,
    intrinsics_from_info,
    rescale_camera_info,
)
from iid_rdepth_ros.ros.cloud import (  # noqa: E402
    build_cloud,
    build_cloud_numpy,
    cloud_to_array,
    depth_to_cloud,
    pack_rgb,
    points_array,
    unpack_rgb,
)
from iid_rdepth_ros.ros.image_codec import (  # noqa: E402
    ImageFormatError,
    array_to_image,
    depth_to_image,
    image_to_array,
    image_to_rgb,
)
from iid_rdepth_ros.runtime.config import Intrinsics  # noqa: E402

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


def _info(fx: float, fy: float, cx: float, cy: float, w: int, h: int, tx: float = 0.0
          ) -> CameraInfo:
    info = CameraInfo(width=w, height=h, distortion_model="plumb_bob")
    info.d = [0.1, -0.2, 0.0, 0.0, 0.0]
    info.k = [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]
    info.p = [fx, 0.0, cx, tx, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return info


def test_intrinsics_and_baseline_from_camera_info() -> None:
    info = _info(700.0, 710.0, 320.5, 240.25, 640, 480, tx=-700.0 * 0.12)
    intr = intrinsics_from_info(info, (480, 640))
    assert (intr.fx, intr.fy, intr.cx, intr.cy) == (700.0, 710.0, 320.5, 240.25)
    assert baseline_from_info(info) == pytest.approx(0.12)
    # P empty -> K is used; info made for 640x480 but the image is 320x240 -> rescaled
    info.p = [0.0] * 12
    half = intrinsics_from_info(info, (240, 320))
    assert half.fx == pytest.approx(350.0) and half.fy == pytest.approx(355.0)
    assert half.cx == pytest.approx((320.5 + 0.5) / 2 - 0.5)
    for fx in (0.0, float("nan"), -5.0):
        with pytest.raises(CameraInfoError, match="unusable focal") as err:
            intrinsics_from_info(_info(fx, 700.0, 1, 1, 4, 4), (4, 4))
        assert err.value.kind == "focal"
    with pytest.raises(CameraInfoError, match="no stereo baseline") as err:
        baseline_from_info(_info(700.0, 700.0, 1, 1, 4, 4, tx=0.0))
    assert err.value.kind == "baseline"


def test_rescaled_camera_info_matches_depth_size() -> None:
    info = _info(720.0, 720.0, 620.0, 187.0, 1242, 375, tx=-720.0 * 0.54)
    info.header.frame_id = "left"
    intr = intrinsics_from_info(info, (375, 1242))
    out = rescale_camera_info(info, intr, (192, 640), (375, 1242))
    sx, sy = 640 / 1242, 192 / 375
    assert (out.width, out.height, out.header.frame_id) == (640, 192, "left")
    k = np.array(out.k).reshape(3, 3)
    p = np.array(out.p).reshape(3, 4)
    np.testing.assert_allclose(k, p[:, :3])
    np.testing.assert_allclose([k[0, 0], k[1, 1]], [720 * sx, 720 * sy])
    np.testing.assert_allclose([k[0, 2], k[1, 2]], [(620.5) * sx - 0.5, 187.5 * sy - 0.5])
    assert p[0, 3] / p[0, 0] == pytest.approx(-0.54)  # baseline preserved
    assert list(out.d) == [0.0] * 5 and list(out.r) == [1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0]
    same = rescale_camera_info(info, intr, (375, 1242), (375, 1242))
    np.testing.assert_allclose(np.array(same.k), np.array(info.k))


def test_pack_rgb_layout_is_rviz_rgb8() -> None:
    packed = pack_rgb(np.array([[255, 0, 0], [0, 128, 1]], dtype=np.uint8))
    assert packed.dtype == np.float32
    assert list(packed.view(np.uint32)) == [0x00FF0000, 0x00008001]
    rgb = RNG.integers(0, 256, size=(3, 4, 3), dtype=np.uint8)
    np.testing.assert_array_equal(unpack_rgb(pack_rgb(rgb)), rgb)


@pytest.mark.parametrize("stride", [1, 3])
def test_cloud_points_are_backprojected_pixels(stride: int) -> None:
    h, w = 10, 14
    depth = RNG.uniform(1.0, 30.0, size=(h, w)).astype(np.float32)
    depth[2, 3] = np.nan
    rgb = RNG.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    intr = Intrinsics(fx=50.0, fy=55.0, cx=6.5, cy=4.25)
    header = Header(frame_id="cam_optical")
    cloud = depth_to_cloud(depth, intr, header, stride=stride, image=rgb)
    rows, cols = np.arange(0, h, stride), np.arange(0, w, stride)
    assert (cloud.height, cloud.width) == (len(rows), len(cols)) and cloud.height > 1
    assert [f.name for f in cloud.fields] == ["x", "y", "z", "rgb"]
    assert all(f.datatype == PointField.FLOAT32 and f.count == 1 for f in cloud.fields)
    assert cloud.point_step == 16 and cloud.row_step == 16 * len(cols)
    assert not cloud.is_dense and cloud.header.frame_id == "cam_optical"
    assert len(cloud.data) == cloud.row_step * cloud.height
    values = cloud_to_array(cloud)
    for r, v in enumerate(rows):
        for c, u in enumerate(cols):
            z = depth[v, u]
            x, y, zz, packed = values[r, c]
            if math.isnan(z):
                assert math.isnan(zz)
                continue
            expected = np.array([(u - intr.cx) * z / intr.fx, (v - intr.cy) * z / intr.fy, z])
            np.testing.assert_allclose([x, y, zz], expected, rtol=1e-6, atol=1e-6)
            np.testing.assert_array_equal(unpack_rgb(np.float32(packed)), rgb[v, u])


def test_cloud_without_color_and_colors_from_larger_image() -> None:
    depth = np.full((4, 6), 2.0, np.float32)
    cloud = depth_to_cloud(depth, Intrinsics(10.0, 10.0, 3.0, 2.0), Header(), stride=1)
    assert [f.name for f in cloud.fields] == ["x", "y", "z"] and cloud.point_step == 12
    # colours sampled from an image twice the depth size: nearest pixel centre
    image = RNG.integers(0, 256, size=(8, 12, 3), dtype=np.uint8)
    cloud = depth_to_cloud(depth, Intrinsics(10.0, 10.0, 3.0, 2.0), Header(), image=image)
    rgb = unpack_rgb(cloud_to_array(cloud)[..., 3])
    np.testing.assert_array_equal(rgb, image[1::2, 1::2])
    with pytest.raises(ValueError, match="records must be"):
        build_cloud(Header(), np.zeros((2, 2, 5), np.float32))


def test_cloud_equals_sensor_msgs_py() -> None:
    pc2 = pytest.importorskip("sensor_msgs_py.point_cloud2")
    xyz = RNG.normal(size=(3, 5, 3)).astype(np.float32)
    rgb = RNG.integers(0, 256, size=(3, 5, 3), dtype=np.uint8)
    records = points_array(xyz, rgb)
    header = Header(frame_id="f")
    ours = build_cloud_numpy(header, records)
    assert build_cloud(header, records) == ours
    fields = ours.fields
    structured = records.reshape(-1).view(pc2.dtype_from_fields(fields)).reshape(-1)
    theirs = pc2.create_cloud(header, fields, structured)
    theirs.height, theirs.width, theirs.row_step = 3, 5, 5 * theirs.point_step
    assert ours == theirs
    back = pc2.read_points_numpy(ours, field_names=["x", "y", "z"])
    np.testing.assert_array_equal(back, xyz.reshape(-1, 3))


@pytest.mark.parametrize("stride", [1, 2, 5])
def test_fast_cloud_equals_reference_backprojection(stride: int) -> None:
    from iid_rdepth_ros.ros.cloud import CloudBuilder, depth_to_cloud_reference

    depth = RNG.uniform(0.5, 60.0, size=(23, 31)).astype(np.float32)
    depth[3, :] = np.nan
    depth[4, 4], depth[5, 5], depth[6, 6] = np.inf, 0.0, -2.0  # all invalid
    rgb = RNG.integers(0, 256, size=(23, 31, 3), dtype=np.uint8)
    intr = Intrinsics(fx=40.0, fy=42.0, cx=15.2, cy=11.7)
    builder = CloudBuilder(cache_size=1)
    for image in (rgb, None):
        fast = cloud_to_array(builder.cloud(depth, intr, Header(), stride, image))
        ref = cloud_to_array(depth_to_cloud_reference(depth, intr, Header(), stride, image))
        assert fast.shape == ref.shape
        np.testing.assert_array_equal(np.isnan(fast[..., :3]), np.isnan(ref[..., :3]))
        np.testing.assert_allclose(fast[..., :3], ref[..., :3], rtol=1e-6, equal_nan=True)
        if image is not None:
            np.testing.assert_array_equal(fast[..., 3].view(np.uint32),
                                          ref[..., 3].view(np.uint32))
    # the ray cache follows intrinsics changes
    other = Intrinsics(fx=80.0, fy=42.0, cx=15.2, cy=11.7)
    fast = cloud_to_array(builder.cloud(depth, other, Header(), stride))
    ref = cloud_to_array(depth_to_cloud_reference(depth, other, Header(), stride))
    np.testing.assert_allclose(fast, ref, rtol=1e-6, equal_nan=True)


def test_fast_colorizer_equals_geometry_colorize_depth() -> None:
    from iid_rdepth_ros.geometry.colormap import colorize_depth
    from iid_rdepth_ros.ros.colorize import DepthColorizer

    depth = np.exp(RNG.uniform(np.log(0.2), np.log(120.0), size=(40, 50))).astype(np.float32)
    depth[0, :5] = [np.nan, np.inf, 0.0, -1.0, 0.5]
    colorizer = DepthColorizer()
    for cmap in ("magma", "viridis"):
        for scale in ("log", "inverse", "linear"):
            ours = colorizer(depth, 0.5, 80.0, cmap, scale)
            theirs = colorize_depth(depth, 0.5, 80.0, cmap, order="bgr", scale=scale)
            np.testing.assert_array_equal(ours, theirs)
    assert ours[0, :4].sum() == 0  # invalid pixels are black
    with pytest.raises(ValueError, match="min_depth"):
        colorizer(depth, 5.0, 1.0, "magma")
