"""The near region: boxes a camera could see nearer than 0.3 m are rejected, others kept."""

from __future__ import annotations

import numpy as np

from iid_rdepth_ros.synth.near_region import NearRegion
from iid_rdepth_ros.synth.scene import CameraPath


def test_near_region_rejects_only_what_could_be_seen_nearer_than_0_3_m():
    cam = CameraPath(x=0.0, height=1.0, yaw=0.0, pitch=0.0, speed=0.1)
    near = NearRegion(cam, frames=3)  # camera at z = 0, 0.1, 0.2 looking along +z
    y = -1.0
    assert not near.clear((-0.1, 0.1, y - 0.1, y + 0.1, 0.45, 0.5))  # 0.25 m ahead at the end
    assert near.clear((-0.1, 0.1, y - 0.1, y + 0.1, 0.55, 0.6))  # 0.35 m ahead at the end
    assert near.clear((-0.1, 0.1, y - 0.1, y + 0.1, -0.5, -0.05))  # behind the camera
    assert near.clear((0.7, 0.9, y - 0.1, y + 0.1, 0.1, 0.3))  # beside, outside the frustum
    assert not near.clear((0.3, 0.5, y - 0.1, y + 0.1, 0.1, 0.5))  # beside, inside it
    assert not near.clear((-0.1, 0.1, y - 0.1, y + 0.1, -0.1, 0.1))  # around the camera
    turned = NearRegion(CameraPath(x=0.0, height=1.0, yaw=np.pi / 2, pitch=0.0, speed=0.0), 1)
    assert turned.clear((-0.1, 0.1, y - 0.1, y + 0.1, 0.2, 0.3))  # now beside it
    assert not turned.clear((0.2, 0.25, y - 0.1, y + 0.1, -0.1, 0.1))  # now in front
