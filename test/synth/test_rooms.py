"""Near-range scenes: closed, furnished, depth within 0.3-20 m for any randomised camera; the
near-range LiDAR pattern."""

from __future__ import annotations

import numpy as np
import pytest

from iid_rdepth_ros.synth.cameras import CameraOverride
from iid_rdepth_ros.synth.config import NEAR_CAMERAS, SceneMix, SynthConfig
from iid_rdepth_ros.synth.rooms import NEAR_KINDS, build_near_scene
from iid_rdepth_ros.synth.street import SynthStreet
from iid_rdepth_ros.synth.textures import get_atlas

SEQ = 6


def _near(kind: str, camera: CameraOverride | None = None, seed: int = 0) -> SynthStreet:
    cfg = SynthConfig(scenes=(SceneMix(kind, 1.0, NEAR_CAMERAS),), seed_salt=7, name=kind)
    return SynthStreet(seed, sequence_length=SEQ, config=cfg, camera=camera)


@pytest.mark.parametrize("kind", NEAR_KINDS)
def test_depth_stays_within_near_range_for_the_widest_cameras(kind):
    # hfov 120 deg at 4:3 (the widest the randomised cameras draw) and a narrow 30 deg one.
    wide = CameraOverride(focal_px=100 / np.tan(np.radians(60)), height=150, width=200)
    narrow = CameraOverride(focal_px=100 / np.tan(np.radians(15)), height=150, width=200)
    lo, hi = np.inf, 0.0
    for cam in (wide, narrow):
        street = _near(kind, cam, seed=11)
        for seq in range(8):
            for k in (0, SEQ - 1):  # the path's first and last positions
                f = street.frame(seq * SEQ + k)
                d = f["depth"]
                assert f["scene_kind"] == kind
                assert np.all(d > 0), "near-range scenes are closed: depth everywhere"
                lo, hi = min(lo, float(d.min())), max(hi, float(d.max()))
    assert lo >= 0.3 and hi <= 20.0, (lo, hi)
    assert lo < 1.5 and hi > 2.5  # and they do span near and farther range


def test_scenes_are_furnished_and_seeded():
    atlas = get_atlas()
    for kind in NEAR_KINDS:
        a = build_near_scene(kind, np.random.default_rng(3), atlas, 20)
        b = build_near_scene(kind, np.random.default_rng(3), atlas, 20)
        assert np.array_equal(a.boxes, b.boxes) and np.array_equal(a.cylinders, b.cylinders)
        assert len(a.boxes) + len(a.cylinders) > 15  # walls, ceiling and a dozen objects
        lo, hi = a.boxes[:, 0::2], a.boxes[:, 1::2]
        assert np.all(lo < hi)
    with pytest.raises(ValueError, match="kitchen"):
        build_near_scene("kitchen", np.random.default_rng(0), atlas, 5)


def test_near_range_lidar_is_sparse_scanlines_of_the_dense_depth():
    street = _near("room", CameraOverride(height=240, width=320))
    for i in (0, SEQ + 2):
        f = street.frame(i)
        hit = f["lidar"] > 0
        assert np.array_equal(f["lidar"][hit], f["depth"][hit])
        assert 0.03 < hit.mean() < 0.09 and f["lidar_coverage"] == pytest.approx(hit.mean())
        assert len(np.unique(np.nonzero(hit)[0])) > 15  # many scan lines
