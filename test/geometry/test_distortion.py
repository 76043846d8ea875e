"""Rays of a distorted camera (geometry.distortion): which models, inverse of OpenCV's
projection, NaN where the model has no ray."""

from __future__ import annotations

import numpy as np
import pytest

from iid_rdepth_ros.geometry.camera import Intrinsics, scale_intrinsics
from iid_rdepth_ros.geometry.distortion import (
    Distortion,
    distortion_problem,
    undistorted_rays,
)

cv2 = pytest.importorskip("cv2")

K = Intrinsics(fx=60.0, fy=62.0, cx=40.3, cy=29.6)  # a wide view: up to 0.8 off axis
HW = (60, 80)
CAMERAS = {
    "plumb_bob": (-0.3, 0.12, 0.002, -0.001, -0.02),
    "rational_polynomial": (0.4, -0.1, 0.001, 0.002, 0.01, 0.7, -0.05, 0.02),
    "equidistant": (0.05, -0.02, 0.004, -0.001),
}


def _project(model: str, xy: np.ndarray, k: Intrinsics, d: tuple[float, ...]) -> np.ndarray:
    """OpenCV's projection of the rays ``(x, y, 1)`` (N, 2) -> pixels (N, 2)."""
    camera = np.array([[k.fx, 0.0, k.cx], [0.0, k.fy, k.cy], [0.0, 0.0, 1.0]])
    obj = np.concatenate([xy, np.ones((len(xy), 1))], axis=1).reshape(-1, 1, 3)
    zero = np.zeros(3)
    if model == "equidistant":
        px, _ = cv2.fisheye.projectPoints(obj, zero, zero, camera, np.array(d))
    else:
        px, _ = cv2.projectPoints(obj, zero, zero, camera, np.array(d))
    return px.reshape(-1, 2)


def test_supported_models_and_coefficient_counts() -> None:
    for model, d in CAMERAS.items():
        assert distortion_problem(model, d) == ""
    assert distortion_problem("plumb_bob", (0.1, 0.0, 0.0, 0.0)) == (
        "plumb_bob distortion needs 5 coefficients, D has 4")
    assert distortion_problem("equidistant", (0.1,) * 5) == (
        "equidistant distortion needs 4 coefficients, D has 5")
    assert "'double_sphere' cannot be undone here" in distortion_problem("double_sphere",
                                                                         (0.1, 0.5))
    assert "distortion_model is empty" in distortion_problem("", (0.1,) * 5)
    assert "non-finite" in distortion_problem("plumb_bob", (float("nan"),) + (0.0,) * 4)
    with pytest.raises(ValueError, match="cannot be undone"):
        undistorted_rays(HW, Distortion("double_sphere", (0.1, 0.5), K))


@pytest.mark.parametrize("model", sorted(CAMERAS))
@pytest.mark.parametrize("stride", [1, 3])
def test_rays_project_back_onto_their_pixels(model: str, stride: int) -> None:
    d = CAMERAS[model]
    rays = undistorted_rays(HW, Distortion(model, d, K), stride)
    rows, cols = np.arange(0, HW[0], stride), np.arange(0, HW[1], stride)
    assert rays.shape == (len(rows), len(cols), 2) and rays.dtype == np.float32
    assert np.isfinite(rays).all()
    u, v = np.meshgrid(cols, rows)
    back = _project(model, rays.reshape(-1, 2).astype(np.float64), K, d)
    # float32 rays: a few 1e-5 px
    np.testing.assert_allclose(back, np.stack([u, v], -1).reshape(-1, 2), atol=1e-3)
    # and they are not the pinhole rays (the test would see a model that is ignored)
    pinhole = np.stack([(u - K.cx) / K.fx, (v - K.cy) / K.fy], -1)
    assert np.abs(rays - pinhole).max() > 1e-2


def test_zero_distortion_gives_the_pinhole_rays() -> None:
    rays = undistorted_rays(HW, Distortion("plumb_bob", (0.0,) * 5, K))
    u, v = np.meshgrid(np.arange(HW[1]), np.arange(HW[0]))
    np.testing.assert_allclose(rays[..., 0], (u - K.cx) / K.fx, atol=1e-6)
    np.testing.assert_allclose(rays[..., 1], (v - K.cy) / K.fy, atol=1e-6)


def test_pixels_beyond_the_model_have_no_ray() -> None:
    """A fisheye whose image corners lie beyond 90 degrees from the axis: those pixels get
    NaN rays, the rest project back onto their pixels."""
    k = Intrinsics(fx=20.0, fy=20.0, cx=39.5, cy=29.5)  # corner at ~2.5 rad
    d = (0.0, 0.0, 0.0, 0.0001)
    rays = undistorted_rays(HW, Distortion("equidistant", d, k))
    missing = np.isnan(rays[..., 0])
    assert missing.any() and not missing.all()
    np.testing.assert_array_equal(missing, np.isnan(rays[..., 1]))
    u, v = np.meshgrid(np.arange(HW[1]), np.arange(HW[0]))
    theta_d = np.hypot((u - k.cx) / k.fx, (v - k.cy) / k.fy)
    assert missing[theta_d > np.pi / 2 + 0.05].all() and not missing[theta_d < 1.4].any()
    good = ~missing
    back = _project("equidistant", rays[good].astype(np.float64), k, d)
    np.testing.assert_allclose(back, np.stack([u[good], v[good]], -1), atol=1e-3)


def test_scaled_distortion_scales_k_only() -> None:
    dist = Distortion("plumb_bob", CAMERAS["plumb_bob"], K)
    assert dist.scaled(HW, HW) is dist
    half = dist.scaled(HW, (30, 40))
    assert half.d == dist.d and half.model == "plumb_bob"
    assert half.k == scale_intrinsics(K, HW, (30, 40))
    assert not dist.is_zero and Distortion("plumb_bob", (0.0,) * 5, K).is_zero
