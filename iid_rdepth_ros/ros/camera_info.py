"""sensor_msgs/CameraInfo helpers: intrinsics, stereo baseline, rescaling to another size."""

from __future__ import annotations

import math
from typing import Any

from sensor_msgs.msg import CameraInfo

from iid_rdepth_ros.geometry.camera import camera_info_fields, scale_intrinsics
from iid_rdepth_ros.runtime.config import Intrinsics


def make_camera_info(hw: tuple[int, int], intrinsics: Intrinsics,
                     baseline_m: float | None = None, stamp: Any = None, frame_id: str = "",
                     **fields: Any) -> CameraInfo:
    """A rectified camera's CameraInfo (``geometry.camera.camera_info_fields``; a right camera
    of a stereo pair with ``baseline_m``); ``fields`` override (distortion_model, d, r)."""
    msg = CameraInfo(**{**camera_info_fields(hw, intrinsics, baseline_m), **fields})
    if stamp is not None:
        msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    return msg


class CameraInfoError(ValueError):
    """A CameraInfo cannot be used for what was asked; ``kind`` names the problem."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def intrinsics_from_info(info: CameraInfo, image_hw: tuple[int, int]) -> Intrinsics:
    """Pinhole intrinsics of the rectified image (from P, or K when P is empty) at ``image_hw``.

    When the CameraInfo was made for another resolution (its width/height are set and differ
    from the image), the intrinsics are rescaled to the image. Raises
    :class:`CameraInfoError` (kind ``focal``) for a zero, negative or non-finite focal length.
    """
    p, k = info.p, info.k
    use_p = p[0] != 0.0 or p[5] != 0.0
    fx, fy, cx, cy = (p[0], p[5], p[2], p[6]) if use_p else (k[0], k[4], k[2], k[5])
    values = (float(fx), float(fy), float(cx), float(cy))
    if not all(math.isfinite(v) for v in values) or values[0] <= 0 or values[1] <= 0:
        raise CameraInfoError(
            "focal", f"camera_info has an unusable focal length (fx={fx}, fy={fy}, cx={cx}, "
            f"cy={cy})"
        )
    intrinsics = Intrinsics(*values)
    info_hw = (int(info.height), int(info.width))
    if info_hw[0] > 0 and info_hw[1] > 0 and info_hw != tuple(image_hw):
        intrinsics = scale_intrinsics(intrinsics, info_hw, tuple(image_hw))
    return intrinsics


def baseline_from_info(info: CameraInfo) -> float:
    """Stereo baseline in metres of a rectified right camera, from ``P[3] = -fx * B``.

    Raises :class:`CameraInfoError` (kind ``baseline``) when P carries no positive baseline.
    """
    p = info.p
    fx = float(p[0])
    tx = float(p[3])
    if not (math.isfinite(fx) and fx > 0 and math.isfinite(tx)) or tx >= 0.0:
        raise CameraInfoError(
            "baseline",
            f"aux camera_info has no stereo baseline: P[3] = {tx} with P[0] = {fx} "
            "(a rectified right camera has P[3] = -fx * baseline < 0)",
        )
    return -tx / fx


def rescale_camera_info(info: CameraInfo, intrinsics: Intrinsics,
                        out_hw: tuple[int, int], in_hw: tuple[int, int]) -> CameraInfo:
    """CameraInfo for the depth image: K and P from ``intrinsics`` (at ``in_hw``) scaled to
    ``out_hw``.

    The depth image lives in the rectified camera, so D is zero (same model and length), R is
    the identity, binning and ROI are reset, and P keeps its stereo term rescaled with fx
    (``P[3] = -fx' * B``). Header and distortion model are copied.
    """
    scaled = intrinsics if tuple(out_hw) == tuple(in_hw) else scale_intrinsics(
        intrinsics, tuple(in_hw), tuple(out_hw))
    sx = out_hw[1] / in_hw[1]
    sy = out_hw[0] / in_hw[0]
    fx, fy, cx, cy = scaled.fx, scaled.fy, scaled.cx, scaled.cy
    out = CameraInfo()
    out.header = info.header
    out.height, out.width = int(out_hw[0]), int(out_hw[1])
    out.distortion_model = info.distortion_model
    out.d = [0.0] * len(info.d)
    out.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    out.k = [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]
    p = info.p
    tx = float(p[3]) * sx if p[0] != 0.0 else 0.0
    ty = float(p[7]) * sy if p[5] != 0.0 else 0.0
    out.p = [fx, 0.0, cx, tx, 0.0, fy, cy, ty, 0.0, 0.0, 1.0, 0.0]
    return out
