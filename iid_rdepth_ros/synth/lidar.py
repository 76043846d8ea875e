"""Sparse LiDAR-like ground truth: a KITTI-style (HDL-64E-like) scan-line pattern.

Model (deliberately simple, and exact with respect to the dense map):
- 64 beams at fixed elevations like the HDL-64E (upper block +2.0 to -8.33 deg, lower block
  -8.83 to -24.33 deg) plus a fixed sub-degree irregularity per beam, so scan lines are not
  aligned with pixel rows. Elevation and azimuth are measured in the level vehicle frame (the world
  axes: the sensor does not share the camera's yaw/pitch jitter), so projected scan lines are
  curves in the image.
- The sensor sits at the left camera centre (no mounting offset is modelled, hence no
  sensor-vs-camera parallax or occlusion artefacts). Each beam direction is projected into the left
  image and rounded to the nearest pixel; the return is the exact dense depth of that pixel
  (camera z, the same value as the dense map), kept when the pixel hit a surface and its slant
  range is at most `max_range_m`. Sky gives no return.
- Azimuth samples are spaced by `azimuth_step_deg` with a random phase per frame. At the KITTI
  focal length the default step is 0.215 deg (close to the real sensor at 10 Hz); it grows as
  1 / (fx * fy) for smaller images, because the beams keep their angular spacing while the image
  loses rows and columns, so that about 6-7 % of the pixels below the horizon get a return at any
  image size, as in KITTI at full resolution.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .render import RayGrid

KITTI_FX = 721.5377
# Azimuth step (deg) at the KITTI focal length that gives ~6.5 % coverage below the horizon.
AZIMUTH_STEP_AT_KITTI_FX = 0.215


@dataclass(frozen=True)
class LidarPattern:
    """Beam elevations (deg, positive up), azimuth spacing (deg) and range cap (m)."""

    elevations_deg: np.ndarray
    azimuth_step_deg: float
    max_range_m: float = 120.0


def kitti_like_pattern(fx: float, fy: float, max_range_m: float = 120.0) -> LidarPattern:
    """The 64-beam pattern with an azimuth step suited to focal lengths `fx`, `fy` (pixels)."""
    if not (fx > 0 and fy > 0):
        raise ValueError(f"focal lengths must be positive, got fx={fx}, fy={fy}")
    upper = np.linspace(2.0, -8.33, 32)
    lower = np.linspace(-8.83, -24.33, 32)
    irregular = np.random.default_rng(64).uniform(-0.07, 0.07, 64)  # fixed per "sensor"
    elev = np.concatenate([upper, lower]) + irregular
    return LidarPattern(elevations_deg=elev,
                        azimuth_step_deg=AZIMUTH_STEP_AT_KITTI_FX * KITTI_FX ** 2 / (fx * fy),
                        max_range_m=max_range_m)


#: near-range sensor (e.g. a 128-beam dome LiDAR on an indoor robot): 90 deg vertical field
NEAR_BEAMS = 128
NEAR_ELEVATION_DEG = (45.0, -45.0)
# Mean beam spacing of the KITTI-like pattern: the near pattern keeps the same pixels per return.
_KITTI_BEAM_SPACING_DEG = (2.0 + 24.33) / 63


def near_range_pattern(fx: float, fy: float, max_range_m: float = 50.0) -> LidarPattern:
    """A 128-beam pattern over +-45 deg elevation for near-range scenes.

    The azimuth step scales like the KITTI-like pattern's (1 / (fx * fy)), widened by the ratio
    of the beam spacings, so about as large a share of the pixels gets a return (~6 %) as in
    the street pattern at any focal length: scan lines are further apart, samples along a line
    closer together.
    """
    if not (fx > 0 and fy > 0):
        raise ValueError(f"focal lengths must be positive, got fx={fx}, fy={fy}")
    top, bottom = NEAR_ELEVATION_DEG
    spacing = (top - bottom) / (NEAR_BEAMS - 1)
    irregular = np.random.default_rng(128).uniform(-0.1, 0.1, NEAR_BEAMS)  # fixed per sensor
    elev = np.linspace(top, bottom, NEAR_BEAMS) + irregular
    step = AZIMUTH_STEP_AT_KITTI_FX * KITTI_FX ** 2 / (fx * fy) * _KITTI_BEAM_SPACING_DEG / spacing
    return LidarPattern(elevations_deg=elev, azimuth_step_deg=step, max_range_m=max_range_m)


def beam_pixels(pattern: LidarPattern, rays: RayGrid, phase: float) -> np.ndarray:
    """Flat indices of the left-image pixels hit by the beams (unique, sorted).

    `phase` in [0, 1) shifts the azimuth samples by that fraction of a step.
    """
    h, w = rays.height, rays.width
    dx, _, dz = rays.d
    az_img = np.arctan2(np.concatenate([dx[:, 0], dx[:, -1]]), np.concatenate([dz[:, 0],
                                                                                 dz[:, -1]]))
    step = np.radians(pattern.azimuth_step_deg)
    a0 = az_img.min() - step * (1.0 - phase)
    az = np.arange(a0, az_img.max() + step, step)
    el = np.radians(pattern.elevations_deg)[:, None]
    dirs = np.stack(np.broadcast_arrays(np.cos(el) * np.sin(az), -np.sin(el),
                                        np.cos(el) * np.cos(az)), axis=-1).reshape(-1, 3)
    cam = dirs @ rays.r  # R^T d for each row
    front = cam[:, 2] > 1e-6
    cam = cam[front]
    k = rays.k
    u = np.rint(k[0, 0] * cam[:, 0] / cam[:, 2] + k[0, 2]).astype(np.int64)
    v = np.rint(k[1, 1] * cam[:, 1] / cam[:, 2] + k[1, 2]).astype(np.int64)
    inside = (u >= 0) & (u < w) & (v >= 0) & (v < h)
    return np.unique(v[inside] * w + u[inside])


def sample_lidar(depth: np.ndarray, pixels: np.ndarray, rays: RayGrid,
                 max_range_m: float) -> np.ndarray:
    """Sparse map: `depth` (0 = none) kept at `pixels` within `max_range_m` slant range."""
    out = np.zeros_like(depth, dtype=np.float32)
    vals = depth.reshape(-1)[pixels]
    ok = (vals > 0) & (vals * rays.norm.reshape(-1)[pixels] <= max_range_m)
    out.reshape(-1)[pixels[ok]] = vals[ok]
    return out


def below_horizon(rays: RayGrid) -> np.ndarray:
    """Mask of pixels whose ray points below the horizon (where LiDAR coverage is measured)."""
    return rays.d[1] > 0
