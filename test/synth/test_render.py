"""synth-street geometry: analytic depth of the ground, a box and a cylinder; exact stereo."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from iid_rdepth_ros.synth.render import CYLINDER, cast, make_rays
from iid_rdepth_ros.synth.scene import SceneOptions, build_scene
from iid_rdepth_ros.synth.street import SynthStreet, kitti_like_intrinsics
from iid_rdepth_ros.synth.textures import get_atlas

H, W = 96, 320


def _ground_scene(seed: int = 0):
    rng = np.random.default_rng(seed)
    return build_scene(rng, get_atlas(), 5, SceneOptions.ground_only())


def _k(h: int = H, w: int = W) -> np.ndarray:
    fx, fy, cx, cy = kitti_like_intrinsics(h, w)
    return np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1.0]])


def test_intrinsics_scale_with_size():
    fx, fy, cx, cy = kitti_like_intrinsics(192, 640)
    assert fx == fy == pytest.approx(721.5377 * 640 / 1242)
    assert cx == pytest.approx(609.5593 * 640 / 1242)
    assert cy == pytest.approx(172.854 * 192 / 375)
    with pytest.raises(ValueError):
        kitti_like_intrinsics(4, 640)


def test_ground_only_scene_has_no_obstacles_and_level_camera():
    scene = _ground_scene()
    assert len(scene.boxes) == 0 and len(scene.cylinders) == 0
    assert scene.camera.yaw == 0.0 and scene.camera.pitch == 0.0
    assert np.allclose(scene.camera.rotation(), np.eye(3))


def test_ground_depth_matches_analytic_plane():
    street = SynthStreet(3, height=H, width=W, sequence_length=5,
                         options=SceneOptions.ground_only())
    f = street.frame(2)
    depth, h_cam = f["depth"], street.options.camera_height_m
    v = np.arange(H, dtype=np.float64)[:, None] - street.cy
    expected = np.where(v > 0, h_cam * street.fy / np.where(v > 0, v, 1), 0.0)
    expected = np.broadcast_to(expected, depth.shape)
    seen = (expected > 0) & (expected <= street.max_depth_m)
    assert seen.sum() > 0.4 * depth.size
    rel = np.abs(depth[seen] - expected[seen]) / expected[seen]
    assert rel.max() < 1e-3
    assert np.all(depth[~seen] == 0)  # sky and ground beyond the 250 m cap carry no depth
    # Ground depth does not depend on a sideways shift: the right view agrees pixel by pixel.
    assert np.allclose(f["depth_right"], depth, rtol=1e-5, atol=0)


def test_box_faces_and_cylinder_match_analytic_depth():
    scene = _ground_scene()
    origin = np.array([0.0, -1.65, 0.0])
    # A wall across the street at z = 30 and a facade along the street at x = 6 (y up to 20 m).
    boxes = np.array([[-50.0, 50.0, -20.0, 0.0, 30.0, 31.0],
                      [6.0, 14.0, -20.0, 0.0, 2.0, 29.0]])
    cylinders = np.array([[-3.0, 12.0, 0.5, -8.0, 0.0]])
    mat = scene.road.materials[0]
    scene = dataclasses.replace(scene, boxes=boxes, cylinders=cylinders,
                                obj_material=np.array([0, mat, mat, mat, mat], np.int32))
    k = _k()
    rays = make_rays(k, np.eye(3), H, W)
    hits = cast(scene, rays, origin, 250.0)
    fx, cx, cy = k[0, 0], k[0, 2], k[1, 2]
    wall = hits.obj == 2
    assert wall.sum() > 100
    assert np.allclose(hits.depth[wall], 30.0, rtol=1e-6)
    assert np.all(hits.face[wall] == 5)  # min-z face, facing the camera
    facade = hits.obj == 3
    assert facade.sum() > 100
    u = np.broadcast_to(np.arange(W, dtype=np.float64)[None, :] - cx, (H, W))
    assert np.allclose(hits.depth[facade], 6.0 * fx / u[facade], rtol=1e-5)
    pole = hits.obj == 4
    assert pole.sum() > 20 and np.all(hits.face[pole] == CYLINDER)
    # Column through the pole's axis: the ray meets the near side of the circle at z = 12 - r.
    col = int(round(cx + fx * (-3.0) / 11.5))
    rows = np.nonzero(pole[:, col])[0]
    ray_x, ray_z = (col - cx) / fx, 1.0
    # Solve |(t * ray_x - (-3), t - 12)| = 0.5 for the nearest t.
    a, b, c = ray_x ** 2 + 1, -2 * (ray_x * -3.0 + 12.0), 9.0 + 144.0 - 0.25
    t_exp = (-b - np.sqrt(b * b - 4 * a * c)) / (2 * a)
    assert len(rows) > 5
    assert np.allclose(hits.depth[rows, col], t_exp * ray_z, rtol=1e-5)
    # Pole pixels stop at its top, y = -8: depth * (v - cy) / fy >= -8 - 1.65 ... + origin.
    y_hit = origin[1] + hits.depth[pole] * (np.nonzero(pole)[0] - cy) / k[1, 1]
    assert y_hit.min() >= -8.0 - 1e-4 and y_hit.max() <= 1e-4
    # Ground in front of the wall keeps its analytic depth.
    ground = (hits.obj == 1)
    v = np.broadcast_to(np.arange(H, dtype=np.float64)[:, None] - cy, (H, W))
    assert np.allclose(hits.depth[ground], 1.65 * fx / v[ground], rtol=1e-5)


def _warp_error(frame: dict, baseline: float) -> tuple[float, float]:
    """Mean |left - right warped by GT disparity| on non-occluded pixels, and their fraction."""
    left = frame["left"].astype(np.float32)
    right = frame["right"].astype(np.float32)
    d, dr = frame["depth"], frame["depth_right"]
    h, w = d.shape
    valid = d > 0
    disp = np.where(valid, frame["fx"] * baseline / np.where(valid, d, 1.0), 0.0)
    u = np.arange(w)[None, :] - disp
    v = np.broadcast_to(np.arange(h, dtype=np.float32)[:, None], (h, w))
    warped = cv2.remap(right, u.astype(np.float32), np.ascontiguousarray(v), cv2.INTER_LINEAR)
    u0 = np.floor(u).astype(int)
    inside = valid & (u0 >= 0) & (u0 + 1 <= w - 1)
    rows = np.arange(h)[:, None]
    # Non-occluded: both bilinear taps in the right view see the same surface (same depth).
    same = np.ones_like(valid)
    for du in (0, 1):
        same &= np.abs(dr[rows, np.clip(u0 + du, 0, w - 1)] - d) < 0.02 * d
    vis = inside & same
    err = np.abs(warped - left).mean(axis=2)
    return float(err[vis].mean()), float(vis.sum() / valid.sum())


@pytest.mark.parametrize("seed,index", [(0, 3), (11, 27)])
def test_right_view_warps_onto_left_with_true_disparity(seed, index):
    street = SynthStreet(seed, height=192, width=640)
    f = street.frame(index)
    assert f["baseline_m"] == 0.54
    err, frac = _warp_error(f, f["baseline_m"])
    assert frac > 0.85  # most pixels with depth are visible in both views
    assert err < 1.5  # grey levels; measured ~0.6-0.9 (mip level and remap rounding)
    for wrong in (0.54 * 0.9, 0.54 * 1.1):  # a 10 % wrong baseline must be clearly worse
        err_wrong, _ = _warp_error(f, wrong)
        assert err_wrong > 2.0 * err
    # Without the shift there is nothing to warp: identical views would mean no stereo.
    assert np.abs(f["left"].astype(int) - f["right"]).mean() > 3.0


def test_sensor_noise_is_optional_and_leaves_geometry_alone():
    clean = SynthStreet(4, height=64, width=160).frame(1)
    noisy_street = SynthStreet(4, height=64, width=160, noise_sigma=2.0)
    noisy = noisy_street.frame(1)
    diff = noisy["left"].astype(float) - clean["left"]
    assert 1.0 < diff.std() < 3.0
    assert np.array_equal(noisy["depth"], clean["depth"])
    assert np.array_equal(noisy["left"], noisy_street.frame(1)["left"])  # still deterministic


@pytest.mark.parametrize("kwargs", [{"seed": -1}, {"seed": 1.5}, {"seed": 1, "sequence_length": 0},
                                    {"seed": 1, "noise_sigma": -1.0}])
def test_street_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        SynthStreet(**kwargs)
    with pytest.raises(ValueError):
        SynthStreet(1, height=32, width=64).frame(-1)
