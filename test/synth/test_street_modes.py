"""The modes beyond the original street data: reproducible by seed (goldens), one scene through
two cameras, and metadata that is true to the pixels (photometry, vertical offset, occlusion)."""

from __future__ import annotations

import dataclasses
import hashlib

import cv2
import numpy as np
import pytest

from iid_rdepth_ros.synth.cameras import CameraOverride
from iid_rdepth_ros.synth.config import (
    MODES,
    NEAR_CAMERAS,
    SCENE_KINDS,
    SceneMix,
    SynthConfig,
    get_mode,
)
from iid_rdepth_ros.synth.occlusion import OCCLUDED, VISIBLE
from iid_rdepth_ros.synth.photometric import apply
from iid_rdepth_ros.synth.scene import SceneOptions
from iid_rdepth_ros.synth.street import SynthStreet

_ARRAYS = ("left", "right", "depth", "depth_right", "lidar", "occlusion")


def _digest(frame: dict) -> str:
    h = hashlib.sha256()
    for key in ("left", "right", "depth", "lidar", "occlusion"):
        h.update(np.ascontiguousarray(frame[key]).tobytes())
    return h.hexdigest()


def _same(a: dict, b: dict) -> bool:
    return (all(np.array_equal(a[k], b[k]) for k in _ARRAYS) and a["camera"] == b["camera"]
            and a["photometric"] == b["photometric"] and a["scene_kind"] == b["scene_kind"])


#: sha256 over left, right, depth, lidar and occlusion of SynthStreet(7, sequence_length=2,
#: config=MODES[mode]).frame(i) (OpenCV 5.x, like the street goldens in test_dataset.py): a
#: change here means every data set of that mode changes.
GOLDEN = {
    ("geometry", 0): "3b9823f4bfc576650d38db11f7c71d083c7ad91a4c31ff0a9ddb0dc27ebb0506",  # street
    ("geometry", 3): "f5ae1866d0c4674c3e0e001f5a32251a8df98e667cba86a1b103e171d34b10c4",  # room
    ("geometry", 7): "94c94bdb2532a00bdfd60587f3f6c57e0bec1ee5201bce625993dbb3455bb8f7",  # corr.
    ("geometry", 31): "bc35294e79ba31b976ec5e1474d5ef0f97be5435c9333009d30b3ccb6b044b1b",  # float
    ("test-mixed", 1): "63b912d606eeb6c374e2ed78e4d27a133a4d045d1bf9db0700d70d1f39d95ba7",
    ("test-near", 2): "944fcb69414f8c4cd9d06ae6615e4e641be893d1beaf3fb6566aaf9a13ed65d4",
}


@pytest.mark.parametrize("mode,index", sorted(GOLDEN))
def test_modes_are_byte_reproducible(mode: str, index: int) -> None:
    frame = SynthStreet(7, sequence_length=2, config=MODES[mode]).frame(index)
    assert _digest(frame) == GOLDEN[(mode, index)], (
        f"synth-street mode {mode} frame {index} changed (OpenCV {cv2.__version__}, numpy "
        f"{np.__version__}): a dependency or the generator no longer gives the same bytes")


@pytest.mark.parametrize("mode", ["geometry", "test-mixed", "test-near"])
def test_modes_are_deterministic_in_any_order(mode: str) -> None:
    cfg = get_mode(mode)
    small = CameraOverride(height=60, width=80)
    a = SynthStreet(4, sequence_length=3, config=cfg, camera=small)
    b = SynthStreet(4, sequence_length=3, config=cfg, camera=small)
    for i in range(7):
        a.frame(i)
    assert _same(a.frame(7), b.frame(7))
    assert not np.array_equal(a.frame(0)["left"], a.frame(7)["left"])


def test_modes_draw_all_kinds_and_never_share_scenes_across_splits() -> None:
    small = CameraOverride(height=40, width=60)
    geometry = SynthStreet(0, sequence_length=1, config=get_mode("geometry"), camera=small)
    kinds = {geometry.sequence(s).kind for s in range(40)}
    assert kinds == set(SCENE_KINDS)
    near = SynthStreet(0, sequence_length=1, config=get_mode("test-near"), camera=small)
    assert {near.sequence(s).kind for s in range(20)} <= {"room", "corridor", "floating"}
    # Same seed, other split: other scenes (each mode has its own seed salt).
    test = SynthStreet(0, sequence_length=1, config=get_mode("test-mixed"), camera=small)
    for s in range(5):
        ga, ta = geometry.sequence(s).scene, test.sequence(s).scene
        assert ga.boxes.shape != ta.boxes.shape or not np.array_equal(ga.boxes, ta.boxes)
    assert {c.seed_salt for c in MODES.values()} == {0, 1, 2, 3}
    with pytest.raises(ValueError, match="unknown synth mode"):
        get_mode("nope")
    with pytest.raises(ValueError, match="scene kind"):
        SceneMix("kitchen")


def test_street_mode_config_is_the_original_data() -> None:
    a = SynthStreet(7, 96, 320, 5).frame(6)
    b = SynthStreet(7, 96, 320, 5, config=get_mode("street")).frame(6)
    assert get_mode("street").is_legacy and not get_mode("geometry").is_legacy
    for key in ("left", "right", "depth", "lidar"):
        assert np.array_equal(a[key], b[key])
    assert a["occlusion"] is None and a["photometric"] is None and a["scene_kind"] == "street"


def _points(frame: dict, right: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Camera-frame 3-D points of every pixel with depth (left view, or the right one in the
    left camera's frame) and their pixel coordinates."""
    cam = frame["camera"]
    d = frame["depth_right"] if right else frame["depth"]
    v, u = np.nonzero(d > 0)
    z = d[v, u].astype(np.float64)
    k = cam.k_right_true if right else cam.k
    x = (u - k[0, 2]) / k[0, 0] * z + (cam.baseline_m if right else 0.0)
    y = (v - k[1, 2]) / k[1, 1] * z
    return np.stack([x, y, z], 1), np.stack([u, v], 1)


def _on_surface(frame: dict, pts: np.ndarray, right: bool = False
                ) -> tuple[np.ndarray, np.ndarray]:
    """Whether each point's depth lies within the depths `frame` shows at the 2x2 pixels
    around its projection (+-0.5 %), for the points that project inside the image."""
    cam = frame["camera"]
    k = cam.k_right_true if right else cam.k
    x = pts[:, 0] - (cam.baseline_m if right else 0.0)
    u = k[0, 0] * x / pts[:, 2] + k[0, 2]
    v = k[1, 1] * pts[:, 1] / pts[:, 2] + k[1, 2]
    inside = (u >= 0) & (u <= cam.width - 1) & (v >= 0) & (v <= cam.height - 1)
    d = frame["depth_right" if right else "depth"]
    u0, v0 = np.floor(u).astype(int), np.floor(v).astype(int)
    taps = np.stack([d[np.clip(v0 + dv, 0, cam.height - 1), np.clip(u0 + du, 0, cam.width - 1)]
                     for du in (0, 1) for dv in (0, 1)])
    z = pts[:, 2]
    return (z >= taps.min(0) * 0.995) & (z <= taps.max(0) * 1.005), inside


@pytest.mark.parametrize("mode,seq", [("test-mixed", 0), ("test-near", 1)])
def test_one_scene_through_two_cameras_gives_the_same_geometry(mode: str, seq: int) -> None:
    cfg = get_mode(mode)
    cams = (CameraOverride(focal_px=160.0, baseline_m=0.08, height=120, width=160),
            CameraOverride(focal_px=420.0, baseline_m=0.4, height=180, width=320),
            CameraOverride(focal_px=300.0, baseline_m=0.08, height=150, width=270))
    a, b, c = (SynthStreet(2, sequence_length=4, config=cfg, camera=cam).frame(4 * seq + 1)
               for cam in cams)
    assert a["scene_kind"] == b["scene_kind"]
    assert np.array_equal(a["pose_world_from_cam"], b["pose_world_from_cam"])
    assert (b["camera"].fx, b["camera"].baseline_m, b["left"].shape) == (420.0, 0.4,
                                                                         (180, 320, 3))
    assert a["photometric"] == b["photometric"]  # the camera changes, nothing else
    # Every 3-D point camera A sees lies on the surfaces camera B sees (left views), and on
    # those of camera C with the same baseline (right views; another baseline sees around
    # other edges). Points within half a pixel of an edge may straddle it.
    for other, right in ((b, False), (c, True)):
        pts, _ = _points(a, right)
        agree, inside = _on_surface(other, pts, right)
        assert inside.mean() > 0.3
        assert agree[inside].mean() > 0.97, agree[inside].mean()


def test_photometry_metadata_reproduces_the_pixels() -> None:
    cfg = get_mode("geometry")
    small = CameraOverride(height=90, width=160)
    street = SynthStreet(5, sequence_length=2, config=cfg, camera=small)
    clean = SynthStreet(5, sequence_length=2, config=dataclasses.replace(cfg, photometric=None),
                        camera=small)
    differ = 0
    for i in (0, 3, 4):
        f, c = street.frame(i), clean.frame(i)
        assert np.array_equal(f["depth"], c["depth"]) and f["camera"] == c["camera"]
        photo = f["photometric"]
        assert np.array_equal(f["left"], apply(c["left"], photo["left"]))
        assert np.array_equal(f["right"], apply(c["right"], photo["right"]))
        differ += photo["left"] != photo["right"]
        assert c["photometric"] is None
    assert differ == 3


def _street_with_offset(max_dy: float, options: SceneOptions | None = None) -> SynthStreet:
    cfg = SynthConfig(scenes=(SceneMix("street"),), vertical_misalignment_px=max_dy,
                      seed_salt=9, name="offset")
    return SynthStreet(3, height=96, width=320, sequence_length=2, options=options, config=cfg)


def test_vertical_offset_is_what_the_right_view_shows() -> None:
    street = _street_with_offset(0.5, SceneOptions.ground_only())
    f = street.frame(0)
    cam, h = f["camera"], street.options.camera_height_m
    assert 0 < abs(cam.dy_px) <= 0.5 and cam.cy_right == cam.cy  # nominal P: rectified
    v = np.arange(cam.height, dtype=np.float64)[:, None]
    for key, cy in (("depth", cam.cy), ("depth_right", cam.cy + cam.dy_px)):
        expected = np.broadcast_to(np.where(v > cy, h * cam.fy / np.maximum(v - cy, 1e-9), 0.0),
                                   f[key].shape)
        seen = (expected > 0) & (expected < 240) & (f[key] > 0)
        assert seen.sum() > 0.3 * f[key].size
        rel = np.abs(f[key][seen] - expected[seen]) / expected[seen]
        assert rel.max() < 1e-3  # the right view's ground is that of row v - dy
    # The offset is visible: the right depth is not the left camera's ground.
    left_formula = h * cam.fy / np.maximum(v - cam.cy, 1e-9)
    rows = (v[:, 0] > cam.cy + 2) & (v[:, 0] < cam.cy + 20)
    assert np.abs(f["depth_right"][rows, 5] - left_formula[rows, 0]).max() > 1e-2


def _warp_error(f: dict, dy: float, mask: np.ndarray) -> float:
    """Mean |left - right sampled at (u - disparity, v + dy)| over `mask`."""
    cam = f["camera"]
    h, w = f["depth"].shape
    mx = (np.arange(w)[None, :] - cam.disparity(f["depth"])).astype(np.float32)
    my = np.broadcast_to(np.arange(h, dtype=np.float32)[:, None] + np.float32(dy), (h, w))
    warped = cv2.remap(f["right"].astype(np.float32), mx, np.ascontiguousarray(my),
                       cv2.INTER_LINEAR)
    return float(np.abs(warped - f["left"]).mean(axis=2)[mask].mean())


def test_disparity_vertical_offset_and_occlusion_describe_the_pair() -> None:
    street = _street_with_offset(3.0)
    f = next(f for f in (street.frame(2 * s) for s in range(10))
             if abs(f["camera"].dy_px) > 1.5)  # a large offset, to see it clearly
    occ, dy = f["occlusion"], f["camera"].dy_px
    vis = occ == VISIBLE
    assert vis.mean() > 0.7 and (occ == OCCLUDED).sum() > 20
    true = _warp_error(f, dy, vis)
    assert true < 4.0  # grey levels (96x320: aliasing; the street test gets ~1 at 192x640)
    assert _warp_error(f, 0.0, vis) > 1.3 * true  # the recorded offset is the real one
    assert _warp_error(f, -dy, vis) > 1.3 * true
    assert _warp_error(f, dy, occ == OCCLUDED) > 3 * true  # occluded pixels have no match


def test_near_range_random_cameras_are_recorded_consistently() -> None:
    cfg = SynthConfig(scenes=(SceneMix("floating", 1.0, NEAR_CAMERAS),), seed_salt=5)
    f = SynthStreet(1, sequence_length=2, config=cfg).frame(0)
    cam = f["camera"]
    assert f["left"].shape == (cam.height, cam.width, 3) == f["right"].shape
    assert (f["fx"], f["cx"], f["baseline_m"]) == (cam.fx, cam.cx, cam.baseline_m)
    assert np.array_equal(f["k"], cam.k) and 0.05 <= cam.baseline_m <= 0.25
