"""Back-projection golden values, reprojection, stride/range and bad focal lengths."""

import numpy as np
import pytest

from iid_rdepth_ros.geometry import backproject, point_cloud

FX, FY, CX, CY = 100.0, 50.0, 2.0, 1.0


def test_backproject_golden_values() -> None:
    depth = np.zeros((4, 5), dtype=np.float32)
    depth[3, 4] = 2.0  # u=4, v=3
    depth[1, 2] = 5.0  # the principal point
    depth[0, 0] = 10.0
    pts = backproject(depth, FX, FY, CX, CY)
    assert pts.shape == (4, 5, 3) and pts.dtype == np.float32
    np.testing.assert_allclose(pts[3, 4], [(4 - 2) * 2 / 100, (3 - 1) * 2 / 50, 2.0], rtol=1e-6)
    np.testing.assert_allclose(pts[1, 2], [0.0, 0.0, 5.0])
    np.testing.assert_allclose(pts[0, 0], [-0.2, -0.2, 10.0], rtol=1e-6)
    assert np.isnan(pts[2, 2]).all()  # depth 0 -> invalid


def test_backproject_reprojects_to_pixels() -> None:
    rng = np.random.default_rng(1)
    depth = rng.uniform(1, 50, size=(6, 7))
    pts = backproject(depth, FX, FY, CX, CY).astype(np.float64)
    k = np.array([[FX, 0, CX], [0, FY, CY], [0, 0, 1]])
    uvw = pts.reshape(-1, 3) @ k.T
    uv = (uvw[:, :2] / uvw[:, 2:]).reshape(6, 7, 2)
    vv, uu = np.mgrid[0:6, 0:7]
    np.testing.assert_allclose(uv[..., 0], uu, atol=1e-4)
    np.testing.assert_allclose(uv[..., 1], vv, atol=1e-4)


def test_backproject_stride_and_range() -> None:
    depth = np.full((5, 6), 3.0)
    depth[2, 4] = 90.0
    pts = backproject(depth, FX, FY, CX, CY, stride=2, max_depth=80.0)
    assert pts.shape == (3, 3, 3)
    np.testing.assert_allclose(pts[0, 1], [(2 - 2) * 3 / 100, (0 - 1) * 3 / 50, 3.0], rtol=1e-6)
    assert np.isnan(pts[1, 2]).all()  # (v=2, u=4) beyond max_depth


def test_point_cloud_drops_invalid_and_keeps_colors() -> None:
    depth = np.array([[1.0, np.nan], [0.0, 2.0]])
    image = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    pts, cols = point_cloud(depth, FX, FY, CX, CY, image=image)
    assert pts.shape == (2, 3)
    np.testing.assert_array_equal(cols, image[[0, 1], [0, 1]])
    with pytest.raises(ValueError, match="image"):
        point_cloud(depth, FX, FY, CX, CY, image=image[:1])


@pytest.mark.parametrize("bad", [(0.0, 1.0), (float("nan"), 1.0), (-1.0, 1.0)])
def test_backproject_rejects_bad_focal(bad: tuple[float, float]) -> None:
    with pytest.raises(ValueError):
        backproject(np.ones((2, 2)), bad[0], bad[1], 0.0, 0.0)
