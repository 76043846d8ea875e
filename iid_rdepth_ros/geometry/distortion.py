"""Rays of a camera with lens distortion (numpy; OpenCV, imported when used).

A camera of ``sensor_msgs/CameraInfo`` with a distortion model and non-zero ``D`` sees the
point ``(X, Y, Z)`` of its optical frame at the pixel ``K · distort(X/Z, Y/Z)``. Its rays are
the inverse: for each pixel ``(u, v)`` the normalized ``(x, y) = undistort(u, v; K, D)``, so a
pixel of depth ``z`` is the point ``(x z, y z, z)``. The rectification rotation R is not
applied: the points stay in the camera's own optical frame.

Models (``sensor_msgs/distortion_models``, the coefficient counts ROS defines):

- ``plumb_bob``: 5 coefficients ``k1, k2, p1, p2, k3`` (``cv2.undistortPoints``);
- ``rational_polynomial``: 8 coefficients ``k1, k2, p1, p2, k3, k4, k5, k6``
  (``cv2.undistortPoints``);
- ``equidistant``: 4 coefficients ``k1, k2, k3, k4`` (``cv2.fisheye.undistortPoints``).

OpenCV inverts the distortion iteratively; the iteration runs to convergence (OpenCV's
default of five plain steps leaves errors of pixels towards the corners of a KITTI-like
camera) and every ray is checked by projecting it back through ``K, D``: a ray that misses its
pixel by more than :data:`MAX_REPROJECTION_PX` is NaN (the pixel lies beyond the radius where
the model folds over, or beyond 90 degrees from the axis for ``equidistant``: the model has no
ray for it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from iid_rdepth_ros.geometry.camera import Intrinsics, scale_intrinsics

#: distortion model -> the number of coefficients D must have
DISTORTION_MODELS: dict[str, int] = {"plumb_bob": 5, "rational_polynomial": 8,
                                     "equidistant": 4}
#: a ray whose projection through K, D lands further than this from its pixel is NaN
MAX_REPROJECTION_PX = 0.01
#: iterations of OpenCV's undistortion (it stops earlier once converged)
MAX_ITERATIONS = 100


@dataclass(frozen=True)
class Distortion:
    """A camera's distortion: the model's name, its coefficients ``d`` and the camera matrix
    ``k`` (K of the CameraInfo, in pixels of the image it belongs to). Hashable (cache key)."""

    model: str
    d: tuple[float, ...]
    k: Intrinsics

    @property
    def is_zero(self) -> bool:
        """True when every coefficient is zero (the camera is a pinhole)."""
        return not any(self.d)

    def scaled(self, from_hw: tuple[int, int], to_hw: tuple[int, int]) -> Distortion:
        """The same camera at another image size: K rescaled (``scale_intrinsics``); the
        coefficients act on normalized coordinates and stay."""
        if tuple(from_hw) == tuple(to_hw):
            return self
        return Distortion(self.model, self.d, scale_intrinsics(self.k, tuple(from_hw),
                                                                tuple(to_hw)))


def distortion_problem(model: str, d: Sequence[float]) -> str:
    """"" when :func:`undistorted_rays` can undo ``model`` with coefficients ``d``, else why
    not (an unknown model, or a D of another length than the model has)."""
    if model not in DISTORTION_MODELS:
        known = ", ".join(DISTORTION_MODELS)
        return (f"distortion model {model!r} cannot be undone here (OpenCV: {known})"
                if model else f"D is set but distortion_model is empty (OpenCV: {known})")
    need = DISTORTION_MODELS[model]
    if len(d) != need:
        return f"{model} distortion needs {need} coefficients, D has {len(d)}"
    if not all(math.isfinite(float(v)) for v in d):
        return f"{model} distortion D has non-finite coefficients"
    return ""


def undistorted_rays(hw: tuple[int, int], distortion: Distortion, stride: int = 1
                     ) -> np.ndarray:
    """``(H', W', 2)`` float32 normalized rays ``(x, y)`` (``z = 1``) of the pixels kept by
    ``stride`` (every ``stride``-th row and column from 0) of an ``hw`` image whose camera is
    ``distortion`` (its ``k`` at ``hw``); NaN where the model has no ray (module docstring).

    Raises ValueError for a model or D that :func:`distortion_problem` refuses, or an
    unusable K.
    """
    why = distortion_problem(distortion.model, distortion.d)
    if why:
        raise ValueError(why)
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    distortion.k.validate()
    import cv2

    rows = np.arange(0, hw[0], stride, dtype=np.float64)
    cols = np.arange(0, hw[1], stride, dtype=np.float64)
    u, v = np.meshgrid(cols, rows)
    pixels = np.stack([u, v], axis=-1).reshape(-1, 1, 2)
    k = distortion.k
    camera = np.array([[k.fx, 0.0, k.cx], [0.0, k.fy, k.cy], [0.0, 0.0, 1.0]])
    d = np.array(distortion.d, dtype=np.float64)
    criteria = (cv2.TERM_CRITERIA_COUNT + cv2.TERM_CRITERIA_EPS, MAX_ITERATIONS, 1e-10)
    fisheye = distortion.model == "equidistant"
    if fisheye:  # epsilon on the angle theta (radians)
        rays = cv2.fisheye.undistortPoints(pixels, camera, d, criteria=criteria)
    else:  # epsilon on the re-projection error (pixels)
        rays = cv2.undistortPoints(pixels, camera, d, criteria=criteria)
    rays = rays.reshape(-1, 2)
    with np.errstate(invalid="ignore", over="ignore"):
        finite = np.all(np.isfinite(rays), axis=1)
        safe = np.where(finite[:, None], rays, 0.0)
        points = np.concatenate([safe, np.ones((len(safe), 1))], axis=1).reshape(-1, 1, 3)
        zero = np.zeros(3)
        if fisheye:
            back, _ = cv2.fisheye.projectPoints(points, zero, zero, camera, d)
        else:
            back, _ = cv2.projectPoints(points, zero, zero, camera, d)
        miss = np.linalg.norm(back.reshape(-1, 2) - pixels.reshape(-1, 2), axis=1)
        good = finite & (miss <= MAX_REPROJECTION_PX)
    rays[~good] = np.nan
    return rays.reshape(len(rows), len(cols), 2).astype(np.float32)
