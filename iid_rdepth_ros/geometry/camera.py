"""Pinhole camera: intrinsics, rescaling to another image size, and the fields of a
rectified ``sensor_msgs/CameraInfo`` (one builder for the node, the bag writer and the tests;
plain numbers, no ROS types)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels of the image they belong to."""

    fx: float
    fy: float
    cx: float
    cy: float

    def validate(self) -> None:
        """Raise ValueError unless the focal lengths are finite and positive."""
        for name in ("fx", "fy"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"intrinsics.{name} must be a finite number > 0, got {value!r}")
        for name in ("cx", "cy"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"intrinsics.{name} must be a finite number, got {value!r}")


def scale_intrinsics(intrinsics: Intrinsics, from_hw: tuple[int, int],
                     to_hw: tuple[int, int]) -> Intrinsics:
    """Intrinsics of the same camera after resizing its image from ``from_hw`` to ``to_hw``.

    Uses the pixel-edge convention (``c' = (c + 0.5) * s - 0.5``) that cv2.resize follows.
    """
    sy = to_hw[0] / from_hw[0]
    sx = to_hw[1] / from_hw[1]
    return Intrinsics(
        fx=intrinsics.fx * sx, fy=intrinsics.fy * sy,
        cx=(intrinsics.cx + 0.5) * sx - 0.5, cy=(intrinsics.cy + 0.5) * sy - 0.5,
    )


IDENTITY_R = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


def camera_info_fields(hw: tuple[int, int], intrinsics: Intrinsics,
                       baseline_m: float | None = None, *,
                       distortion_model: str = "plumb_bob",
                       d: list[float] | tuple[float, ...] | None = None,
                       r: list[float] | tuple[float, ...] = IDENTITY_R) -> dict[str, Any]:
    """``height, width, distortion_model, d, k, r, p`` of a rectified camera's CameraInfo.

    A right camera of a stereo pair (``baseline_m``) gets ``P[3] = -fx * baseline_m``; ``d``
    defaults to five zeros (plumb_bob of a rectified image).
    """
    k = intrinsics
    tx = -k.fx * baseline_m if baseline_m else 0.0
    return {
        "height": int(hw[0]), "width": int(hw[1]), "distortion_model": distortion_model,
        "d": [float(v) for v in (d if d is not None else (0.0,) * 5)],
        "k": [k.fx, 0.0, k.cx, 0.0, k.fy, k.cy, 0.0, 0.0, 1.0],
        "r": [float(v) for v in r],
        "p": [k.fx, 0.0, k.cx, tx, 0.0, k.fy, k.cy, 0.0, 0.0, 0.0, 1.0, 0.0],
    }
