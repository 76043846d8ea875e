"""Golden values of the transform and projection maths behind LiDAR ground truth."""

from __future__ import annotations

import numpy as np
import pytest

from iid_rdepth_ros.bag.transforms import (
    TfTree,
    euler_matrix,
    make_transform,
    matrix_to_quaternion,
    project_points,
    projection_matrix,
    quaternion_to_matrix,
    transform_points,
)


def test_quaternion_golden_and_round_trip() -> None:
    s = np.sqrt(0.5)
    # 90 deg about z: x -> y
    np.testing.assert_allclose(quaternion_to_matrix(0, 0, s, s),
                               [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-12)
    # 180 deg about x
    np.testing.assert_allclose(quaternion_to_matrix(1, 0, 0, 0), np.diag([1, -1, -1]),
                               atol=1e-12)
    # not normalised: normalised first
    np.testing.assert_allclose(quaternion_to_matrix(0, 0, 2, 2), quaternion_to_matrix(0, 0, s, s),
                               atol=1e-12)
    rng = np.random.default_rng(0)
    for _ in range(20):
        r = euler_matrix(*rng.uniform(-np.pi, np.pi, 3))
        np.testing.assert_allclose(quaternion_to_matrix(*matrix_to_quaternion(r)), r, atol=1e-9)
    with pytest.raises(ValueError, match="norm"):
        quaternion_to_matrix(0, 0, 0, 0)


def test_tf_chain_golden() -> None:
    """base -> cam (optical axes) and base -> lidar (yawed 90 deg, raised 1 m)."""
    s = np.sqrt(0.5)
    tree = TfTree()
    optical = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    tree.add("base_link", "cam", make_transform(optical, (0.0, 0.0, 1.0)))
    tree.add("/base_link", "lidar", make_transform(quaternion_to_matrix(0, 0, s, s),
                                                   (0.0, 0.0, 2.0)))
    t = tree.lookup("cam", "lidar")
    # a lidar point 10 m along the lidar's x axis = 10 m along base y (left), 1 m above cam
    p = transform_points(t, [[10.0, 0.0, 0.0]])[0]
    np.testing.assert_allclose(p, [-10.0, -1.0, 0.0], atol=1e-12)  # cam: left = -x, up = -y
    q = transform_points(t, [[0.0, -5.0, -1.0]])[0]  # 5 m ahead of base, at camera height
    np.testing.assert_allclose(q, [0.0, 0.0, 5.0], atol=1e-12)
    np.testing.assert_allclose(tree.lookup("lidar", "cam") @ t, np.eye(4), atol=1e-12)
    with pytest.raises(ValueError, match="not in /tf_static"):
        tree.lookup("cam", "radar")
    tree.add("map", "odom", np.eye(4))
    with pytest.raises(ValueError, match="no chain"):
        tree.lookup("cam", "odom")


def test_projection_golden() -> None:
    """fx=100, fy=50, cx=10, cy=5 on a 20x30 image; known points -> known pixels and depths."""
    p = projection_matrix([100, 0, 10, 0, 0, 50, 5, 0, 0, 0, 1, 0], np.eye(3).ravel())
    pts = np.array([
        [0.0, 0.0, 2.0],     # centre -> (10, 5), z 2
        [0.4, 0.2, 4.0],     # u = 100*0.1+10 = 20, v = 50*0.05+5 = 7.5 -> rounds to 8
        [0.0, 0.0, 3.0],     # behind the first on the same pixel: the nearer (2 m) wins
        [1.0, 0.0, 1.0],     # u = 110: outside
        [0.0, 0.0, -1.0],    # behind the camera
        [np.nan, 0.0, 1.0],  # not finite
        [-0.96, -0.098, 10.0],  # u = 0.4 -> 0, v = 4.51 -> 5
    ])
    depth = project_points(pts, p, (20, 30))
    expected = np.zeros((20, 30), np.float32)
    expected[5, 10] = 2.0
    expected[8, 20] = 4.0
    expected[5, 0] = 10.0
    np.testing.assert_array_equal(depth, expected)
    # a right camera (P[3] = -fx*B) sees the point shifted left by fx*B/z pixels
    right = projection_matrix([100, 0, 10, -100 * 0.5, 0, 50, 5, 0, 0, 0, 1, 0])
    d = project_points(np.array([[0.0, 0.0, 5.0]]), right, (20, 30))
    assert d[5, 0] == 5.0 and np.count_nonzero(d) == 1
    # R rotates into the rectified frame before P: -90 deg about y maps x -> +z
    r = euler_matrix(0.0, -np.pi / 2, 0.0)
    d = project_points(np.array([[2.0, 0.0, 0.0]]), projection_matrix(
        [100, 0, 10, 0, 0, 50, 5, 0, 0, 0, 1, 0], r.ravel()), (20, 30))
    assert d[5, 10] == pytest.approx(2.0)


def test_tf_edges_interpolate_at_the_stamp() -> None:
    """A /tf edge between two samples: translation linear, rotation spherical (golden)."""
    from iid_rdepth_ros.bag.transforms import TransformError, TransformTimeError, slerp

    s = np.sqrt(0.5)
    np.testing.assert_allclose(slerp([0, 0, 0, 1], [0, 0, 1, 0], 0.5), [0, 0, s, s],
                               atol=1e-12)  # halfway from 0 to 180 deg about z: 90 deg
    tree = TfTree(tolerance=0.1)
    tree.add("base", "cam", np.eye(4))
    tree.add_dynamic("base", "lidar", 1_000_000_000, (0.0, 0.0, 0.0), (0, 0, 0, 1))
    tree.add_dynamic("base", "lidar", 3_000_000_000, (2.0, 0.0, 0.0), (0, 0, 1, 0))
    t = tree.lookup("cam", "lidar", stamp_ns=2_000_000_000)
    np.testing.assert_allclose(t[:3, 3], [1.0, 0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(t[:3, :3], quaternion_to_matrix(0, 0, s, s), atol=1e-12)
    np.testing.assert_allclose(tree.lookup("lidar", "cam", stamp_ns=2_000_000_000) @ t,
                               np.eye(4), atol=1e-12)
    # at either end: the nearest sample within the tolerance, beyond it an error saying so
    np.testing.assert_allclose(tree.lookup("cam", "lidar", 3_050_000_000)[:3, 3], [2, 0, 0])
    with pytest.raises(TransformTimeError, match=r"near stamp 3\.200 s \(recorded 1\.000\.\."):
        tree.lookup("cam", "lidar", 3_200_000_000)
    with pytest.raises(TransformTimeError, match="needs a stamp"):
        tree.lookup("cam", "lidar")
    # a static edge wins over /tf samples of the same pair
    tree.add("base", "lidar", make_transform(np.eye(3), (5.0, 0.0, 0.0)))
    np.testing.assert_allclose(tree.lookup("cam", "lidar", 2_000_000_000)[:3, 3], [5, 0, 0])
    assert tree.connects("cam", "lidar") and not tree.connects("cam", "radar", dynamic=True)
    with pytest.raises(TransformError, match="not in /tf_static or /tf"):
        tree.lookup("cam", "radar", 0)
