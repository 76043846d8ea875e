"""A rendered synth-street stereo pair for a 640x480 (4:3) camera with exact depth and a
ground-plane mask, for the node's camera tests.

The camera is not synth-street's KITTI-like one: fx = fy = 500 px, principal point at
(319.5, 192), 0.54 m baseline. ``right_offset`` is the right view of a camera whose principal
point lies ``OFFSET_PX`` to the right (``cx_r = cx + 30``), as a rectified pair may have.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

H, W = 480, 640
FX = FY = 500.0
CX, CY = (W - 1) / 2, 0.4 * H
OFFSET_PX = 30.0
SEED, INDEX = 7, 0


@dataclass(frozen=True)
class StreetPair:
    left: np.ndarray
    right: np.ndarray
    right_offset: np.ndarray
    depth: np.ndarray  # exact depth of the left view (m), 0 = sky
    ground: np.ndarray  # bool: pixels on the road plane (analytic plane depth within 0.5 %)
    baseline_m: float


def _street(cx: float):  # noqa: ANN202 - SynthStreet
    from iid_rdepth_ros.synth.street import SynthStreet

    street = SynthStreet(SEED, H, W)
    street.fx, street.fy, street.cx, street.cy = FX, FY, cx, CY
    return street


@lru_cache(maxsize=1)
def street_pair() -> StreetPair:
    """The pair (rendered once per process, about a second per view)."""
    street = _street(CX)
    left, depth = street.render_view(INDEX)
    right, _ = street.render_view(INDEX, right=True)
    right_offset, _ = _street(CX + OFFSET_PX).render_view(INDEX, right=True)
    cam = street.sequence(INDEX // street.sequence_length).scene.camera
    v, u = np.mgrid[0:H, 0:W].astype(np.float64)
    rays = np.stack([(u - CX) / FX, (v - CY) / FY, np.ones_like(u)], axis=-1)
    down = (rays @ cam.rotation().T)[..., 1]  # world y (down) of each ray
    with np.errstate(divide="ignore", invalid="ignore"):
        plane = np.where(down > 0, cam.height / down, np.nan)  # depth z = t, rays have z = 1
    ground = (depth > 0) & (np.abs(depth - plane) < 0.005 * plane) & (depth < 60)
    return StreetPair(left, right, right_offset, depth, ground, street.baseline_m)
