"""PointCloud2 of the node: layout, back-projection, colours, the fast builder."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("rclpy")

from sensor_msgs.msg import PointField  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from iid_rdepth_ros.ros.cloud import (  # noqa: E402
    build_cloud,
    build_cloud_numpy,
    cloud_to_array,
    depth_to_cloud,
    pack_rgb,
    points_array,
    unpack_rgb,
)
from iid_rdepth_ros.runtime.config import Intrinsics  # noqa: E402

RNG = np.random.default_rng(7)


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
