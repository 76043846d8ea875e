"""Stereo cameras: projection matrices and disparity, random draws within the stated ranges,
overrides that replace only what they name."""

from __future__ import annotations

import math

import numpy as np
import pytest

from iid_rdepth_ros.synth.cameras import (
    CAMERA_UNIFORMS,
    RESOLUTIONS,
    CameraOverride,
    CameraRandomization,
    StereoCamera,
    kitti_like_camera,
)
from iid_rdepth_ros.synth.street import kitti_like_intrinsics


def _cam(**kw) -> StereoCamera:
    base = dict(height=480, width=640, fx=500.0, fy=500.0, cx=320.0, cy=240.0, baseline_m=0.1,
                cx_right=310.0, cy_right=240.0, dy_px=0.3)
    base.update(kw)
    return StereoCamera(**base)


def test_projection_matrices_and_disparity_agree():
    cam = _cam()
    p = np.array([0.4, -0.2, 2.5, 1.0])  # a point in the left camera frame
    ul = cam.p_left @ p
    ur = cam.p_right @ p
    ul, ur = ul[:2] / ul[2], ur[:2] / ur[2]
    assert cam.p_right[0, 3] == pytest.approx(-cam.fx * cam.baseline_m)  # ROS: P[3] = -fx * B
    assert ul[0] - ur[0] == pytest.approx(float(cam.disparity(np.array(2.5))))
    assert ur[1] == pytest.approx(ul[1])  # the nominal P knows nothing of the misalignment
    assert cam.k_right_true[1, 2] == pytest.approx(cam.cy_right + 0.3)
    assert float(cam.disparity(np.array(2.5))) == pytest.approx(500 * 0.1 / 2.5 + 10.0)
    assert cam.disparity(np.zeros((2, 2))).tolist() == [[0, 0], [0, 0]]


def test_kitti_like_camera_is_the_street_camera():
    cam = kitti_like_camera(192, 640)
    assert (cam.fx, cam.fy, cam.cx, cam.cy) == kitti_like_intrinsics(192, 640)
    assert cam.baseline_m == 0.54 and cam.cx_right == cam.cx and cam.dy_px == 0


@pytest.mark.parametrize("bad", [{"fx": 0.0}, {"baseline_m": -0.1}, {"cy": math.nan},
                                 {"height": 4}])
def test_camera_rejects_bad_values(bad):
    with pytest.raises(ValueError):
        _cam(**bad)


def test_random_cameras_stay_within_their_ranges():
    spec = CameraRandomization()
    rng = np.random.default_rng(0)
    cams = [spec.draw(rng.random(CAMERA_UNIFORMS)) for _ in range(600)]
    sizes = {(c.height, c.width) for c in cams}
    assert sizes == set(RESOLUTIONS)  # every size drawn
    aspects = {round(w / h, 2) for h, w in sizes}
    assert {1.33, 1.78} <= aspects and max(aspects) > 3.2  # 4:3, 16:9 and KITTI-like
    f = np.array([c.fx for c in cams])
    assert f.min() >= 250 and f.max() <= 1500 and f.max() / f.min() > 4
    fov = np.array([c.hfov_deg for c in cams])
    assert fov.min() >= 30 - 1e-6 and fov.max() <= 120 + 1e-6
    b = np.array([c.baseline_m for c in cams])
    assert b.min() >= 0.05 and b.max() <= 0.6 and b.max() / b.min() > 6
    for c in cams:
        assert abs(c.cx - (c.width - 1) / 2) <= 0.03 * c.width
        assert abs(c.cy - (c.height - 1) / 2) <= 0.03 * c.height
        assert (c.cx_right, c.cy_right, c.fx) == (c.cx, c.cy, c.fy)


def test_override_replaces_only_what_it_names():
    cam = _cam()
    assert CameraOverride().apply(cam) == cam
    out = CameraOverride(focal_px=800.0).apply(cam)
    assert (out.fx, out.fy, out.baseline_m, out.cx) == (800.0, 800.0, 0.1, 320.0)
    out = CameraOverride(height=240, width=320, baseline_m=0.3).apply(cam)
    assert (out.height, out.width, out.baseline_m, out.fx) == (240, 320, 0.3, 500.0)
    assert out.cx == pytest.approx((320 + 0.5) / 2 - 0.5)  # principal point keeps its place
    assert out.cx - out.cx_right == pytest.approx(cam.cx - cam.cx_right)
    spec = CameraRandomization()
    u = np.random.default_rng(3).random(CAMERA_UNIFORMS)
    drawn, fixed = spec.draw(u), spec.draw(u, CameraOverride(focal_px=321.0, height=100,
                                                             width=200))
    assert (fixed.fx, fixed.height, fixed.width) == (321.0, 100, 200)
    assert fixed.baseline_m == drawn.baseline_m  # the rest of the draw is unchanged


@pytest.mark.parametrize("kw", [{"height": 100}, {"focal_px": 0.0}, {"baseline_m": math.inf},
                                {"height": 4, "width": 4}])
def test_override_rejects_bad_values(kw):
    with pytest.raises(ValueError):
        CameraOverride(**kw)


def test_randomisation_rejects_impossible_ranges():
    with pytest.raises(ValueError, match="field of view"):
        CameraRandomization(resolutions=((100, 8000),), focal_px=(250.0, 300.0))
    with pytest.raises(ValueError):
        CameraRandomization(baseline_m=(0.5, 0.1))
    with pytest.raises(ValueError):
        CameraRandomization(resolutions=())
