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


# -- cameras with lens distortion ------------------------------------------------------------
DISTORTED = {  # model -> (D, K at 48x64): wide views (up to ~0.9 off axis)
    "plumb_bob": ((-0.28, 0.09, 0.0015, -0.001, -0.015), Intrinsics(52.0, 54.0, 31.7, 23.2)),
    "rational_polynomial": ((0.4, -0.1, 0.001, 0.002, 0.01, 0.7, -0.05, 0.02),
                            Intrinsics(50.0, 50.0, 31.5, 23.5)),
    "equidistant": ((0.04, -0.015, 0.003, -0.0008), Intrinsics(45.0, 45.0, 32.4, 22.9)),
}


def _cv_project(model: str, points: np.ndarray, k: Intrinsics, d: tuple[float, ...]
                ) -> np.ndarray:
    """OpenCV's projection (cv2.projectPoints / cv2.fisheye.projectPoints) of (N, 3) points
    of the optical frame through K, D -> (N, 2) pixels."""
    cv2 = pytest.importorskip("cv2")
    camera = np.array([[k.fx, 0.0, k.cx], [0.0, k.fy, k.cy], [0.0, 0.0, 1.0]])
    obj = np.ascontiguousarray(points, dtype=np.float64).reshape(-1, 1, 3)
    zero = np.zeros(3)
    project = cv2.fisheye.projectPoints if model == "equidistant" else cv2.projectPoints
    pixels, _ = project(obj, zero, zero, camera, np.array(d, dtype=np.float64))
    return pixels.reshape(-1, 2)


def _points_seen_at_pixels(model: str, k: Intrinsics, d: tuple[float, ...],
                           depth: np.ndarray) -> np.ndarray:
    """The 3-D points (H, W, 3) that OpenCV projects exactly onto each pixel centre, at the
    pixel's depth: found by the test's own Newton iteration on cv2's projection (numerical
    Jacobian), independent of the code under test."""
    h, w = depth.shape
    u, v = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    target = np.stack([u, v], -1).reshape(-1, 2)
    xy = np.stack([(u - k.cx) / k.fx, (v - k.cy) / k.fy], -1).reshape(-1, 2)

    def project(rays: np.ndarray) -> np.ndarray:
        return _cv_project(model, np.concatenate([rays, np.ones((len(rays), 1))], 1), k, d)

    step = 1e-7
    for _ in range(30):
        residual = project(xy) - target
        jac = np.stack([(project(xy + step * e) - project(xy - step * e)) / (2 * step)
                        for e in np.eye(2)], axis=-1)  # (N, 2 pixel, 2 ray)
        xy = xy - np.linalg.solve(jac, residual[..., None])[..., 0]
    assert np.abs(project(xy) - target).max() < 1e-6  # the points are seen at the pixels
    z = depth.astype(np.float64).reshape(-1, 1)
    return np.concatenate([xy * z, z], 1).reshape(h, w, 3)


@pytest.mark.parametrize("model", sorted(DISTORTED))
def test_distorted_camera_cloud_matches_the_3d_points(model: str) -> None:
    """Known 3-D points seen (through cv2's projection with K, D) at the depth pixels: the
    cloud gives them back, within 1e-3 of their distance; the pinhole rays through K would
    not."""
    from iid_rdepth_ros.geometry.distortion import Distortion
    from iid_rdepth_ros.ros.cloud import CloudBuilder

    d, k = DISTORTED[model]
    depth = RNG.uniform(0.5, 40.0, size=(48, 64)).astype(np.float32)
    truth = _points_seen_at_pixels(model, k, d, depth)
    # sanity of the construction: OpenCV puts these points on the pixel grid
    seen = _cv_project(model, truth.reshape(-1, 3), k, d).reshape(48, 64, 2)
    np.testing.assert_allclose(seen[7, 11], [11.0, 7.0], atol=1e-6)
    builder = CloudBuilder()
    p = Intrinsics(k.fx * 0.9, k.fy * 0.9, k.cx + 1.0, k.cy - 1.0)  # P: not used with D
    for stride in (1, 3):
        cloud = cloud_to_array(builder.cloud(depth, p, Header(), stride,
                                             distortion=Distortion(model, d, k)))
        expected = truth[::stride, ::stride]
        assert cloud.shape == expected.shape
        error = np.linalg.norm(cloud - expected, axis=-1)
        assert (error <= 1e-3 * np.linalg.norm(expected, axis=-1)).all(), error.max()
    # the same depth through the pinhole rays of K misses the points by far more
    pinhole = cloud_to_array(builder.cloud(depth, k, Header()))
    assert (np.linalg.norm(pinhole - truth, axis=-1)
            > 1e-2 * np.linalg.norm(truth, axis=-1)).mean() > 0.5


def test_zero_distortion_cloud_is_exactly_the_pinhole_cloud() -> None:
    from iid_rdepth_ros.geometry.distortion import Distortion
    from iid_rdepth_ros.ros.cloud import CloudBuilder

    depth = RNG.uniform(0.5, 40.0, size=(23, 31)).astype(np.float32)
    depth[2, 2] = np.nan
    rgb = RNG.integers(0, 256, size=(23, 31, 3), dtype=np.uint8)
    p = Intrinsics(fx=40.0, fy=42.0, cx=15.2, cy=11.7)
    k = Intrinsics(fx=41.0, fy=43.0, cx=15.0, cy=11.0)  # K != P: zero D uses P, as before
    for model, n in (("plumb_bob", 5), ("rational_polynomial", 8), ("equidistant", 4)):
        zero = Distortion(model, (0.0,) * n, k)
        for stride in (1, 2):
            ours = CloudBuilder().records(depth, p, stride, rgb, distortion=zero)
            today = CloudBuilder().records(depth, p, stride, rgb)
            np.testing.assert_array_equal(ours.view(np.uint32), today.view(np.uint32))


def test_distortion_cache_follows_the_camera_and_pixels_without_ray_are_nan() -> None:
    from iid_rdepth_ros.geometry.distortion import Distortion
    from iid_rdepth_ros.ros.cloud import CloudBuilder

    d, k = DISTORTED["plumb_bob"]
    depth = np.full((48, 64), 3.0, np.float32)
    builder = CloudBuilder(cache_size=2)
    first = builder.records(depth, k, distortion=Distortion("plumb_bob", d, k))
    again = builder.records(depth, k, distortion=Distortion("plumb_bob", d, k))
    np.testing.assert_array_equal(first, again)
    assert len(builder._rays) == 1  # computed once for the camera
    other = builder.records(depth, k, distortion=Distortion("plumb_bob", (0.1,) + d[1:], k))
    assert len(builder._rays) == 2 and not np.allclose(first, other)  # D is in the key
    moved = builder.records(depth, k, distortion=Distortion(
        "plumb_bob", d, Intrinsics(k.fx, k.fy, k.cx + 2.0, k.cy)))
    assert not np.allclose(first, moved)  # and K
    # a fisheye whose corners lie beyond 90 degrees: no ray there, the whole point is NaN
    wide = Distortion("equidistant", (0.0, 0.0, 0.0, 0.0001), Intrinsics(15.0, 15.0, 31.5, 23.5))
    records = builder.records(depth, k, distortion=wide)
    missing = np.isnan(records[..., 2])
    assert missing[0, 0] and not missing[24, 32]
    np.testing.assert_array_equal(np.isnan(records[..., :3]).any(-1), missing)
