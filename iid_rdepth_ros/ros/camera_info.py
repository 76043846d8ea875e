"""sensor_msgs/CameraInfo helpers: intrinsics, stereo geometry, distortion, the depth's info.

Conventions (sensor_msgs/CameraInfo, REP 104, ``stereo_image_proc``): the node's images are
rectified, so their projection is P (K when P is empty); a rectified right camera has
``P[3] = -fx * B`` and may have its principal point elsewhere in x than the left camera.
"""

from __future__ import annotations

import math
from typing import Any

from sensor_msgs.msg import CameraInfo

from iid_rdepth_ros.geometry.camera import camera_info_fields, scale_intrinsics
from iid_rdepth_ros.geometry.distortion import Distortion, distortion_problem
from iid_rdepth_ros.runtime.config import Intrinsics

#: relative difference between the x and y scale factors from a CameraInfo's size to the
#: image's size above which the info is refused (it belongs to another aspect ratio)
ASPECT_RTOL = 0.01
#: smallest stereo baseline taken from an aux camera_info (metres)
MIN_BASELINE_M = 1e-3


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


def _info_scale(info: CameraInfo, image_hw: tuple[int, int]) -> tuple[float, float] | None:
    """(sx, sy) from the CameraInfo's size to the image's, None when the info has no size;
    CameraInfoError (kind ``info_size``) when the two sizes have different aspect ratios."""
    info_hw = (int(info.height), int(info.width))
    if info_hw[0] <= 0 or info_hw[1] <= 0:
        return None
    sx, sy = image_hw[1] / info_hw[1], image_hw[0] / info_hw[0]
    if abs(sx - sy) > ASPECT_RTOL * max(sx, sy):
        raise CameraInfoError(
            "info_size",
            f"camera_info is for a {info_hw[1]}x{info_hw[0]} image but the image is "
            f"{image_hw[1]}x{image_hw[0]} (another aspect ratio: scaling it would stretch the "
            "camera); frame skipped")
    return sx, sy


def intrinsics_from_info(info: CameraInfo, image_hw: tuple[int, int]) -> Intrinsics:
    """Pinhole intrinsics of the rectified image (from P, or K when P is empty) at ``image_hw``.

    When the CameraInfo was made for another resolution of the same aspect ratio (its
    width/height are set and differ from the image), the intrinsics are rescaled to the image.
    Raises :class:`CameraInfoError`: kind ``focal`` for a zero, negative or non-finite focal
    length, ``info_size`` for a CameraInfo of another aspect ratio than the image.
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
    if _info_scale(info, image_hw) is not None and (int(info.height), int(info.width)) != tuple(
            image_hw):
        intrinsics = scale_intrinsics(intrinsics, (int(info.height), int(info.width)),
                                      tuple(image_hw))
    return intrinsics


def baseline_from_info(info: CameraInfo, max_baseline: float = math.inf) -> float:
    """Stereo baseline in metres of a rectified right camera, from ``P[3] = -fx * B``.

    Raises :class:`CameraInfoError`: kind ``baseline`` when P carries no positive baseline,
    ``baseline_range`` for one outside ``[MIN_BASELINE_M, max_baseline]``.
    """
    p = info.p
    fx = float(p[0])
    tx = float(p[3])
    if not (math.isfinite(fx) and fx > 0 and math.isfinite(tx)) or tx >= 0.0:
        raise CameraInfoError(
            "baseline",
            f"aux camera_info has no stereo baseline: P[3] = {tx:g} with P[0] = {fx:g} "
            "(a rectified right camera has P[3] = -fx * baseline < 0)",
        )
    baseline = -tx / fx
    if not MIN_BASELINE_M <= baseline <= max_baseline:
        raise CameraInfoError(
            "baseline_range",
            f"aux camera_info gives a stereo baseline of {baseline:g} m (P[3] = {tx:g}, "
            f"P[0] = {fx:g}), outside {MIN_BASELINE_M:g}..{max_baseline:g} m (max_baseline)",
        )
    return baseline


def distortion_note(info: CameraInfo) -> str:
    """"" for a CameraInfo without distortion (D all zero or empty), else a description of
    it: the node needs rectified images, and cannot tell whether the image was rectified
    (image_proc's rectify node passes the raw camera's CameraInfo on unchanged)."""
    d = [float(v) for v in info.d]
    if not any(d):
        return ""
    shown = ", ".join(f"{v:.4g}" for v in d[:8]) + (", ..." if len(d) > 8 else "")
    model = info.distortion_model or "unnamed model"
    return f"{model} distortion D = [{shown}]"


def distortion_from_info(info: CameraInfo, image_hw: tuple[int, int]) -> Distortion | None:
    """The lens distortion of a CameraInfo for an image of ``image_hw``: its model, D and K
    (K, not P: the distortion acts between K and the raw pixels; rescaled to the image like
    :func:`intrinsics_from_info` rescales P). None when D is empty or all zero.

    Raises :class:`CameraInfoError` kind ``distortion`` when the model cannot be undone
    (``geometry.distortion.distortion_problem``: an unknown model, a D of the wrong length)
    or K has no usable focal length; ``info_size`` as :func:`intrinsics_from_info`.
    """
    d = tuple(float(v) for v in info.d)
    if not any(d):
        return None
    model = str(info.distortion_model)
    why = distortion_problem(model, d)
    if why:
        raise CameraInfoError("distortion", why)
    k = info.k
    values = (float(k[0]), float(k[4]), float(k[2]), float(k[5]))
    if not all(math.isfinite(v) for v in values) or values[0] <= 0 or values[1] <= 0:
        raise CameraInfoError(
            "distortion", f"camera_info has a {model} distortion but K has an unusable focal "
            f"length (fx={k[0]}, fy={k[4]}, cx={k[2]}, cy={k[5]})")
    intrinsics = Intrinsics(*values)
    info_hw = (int(info.height), int(info.width))
    if _info_scale(info, image_hw) is not None and info_hw != tuple(image_hw):
        intrinsics = scale_intrinsics(intrinsics, info_hw, tuple(image_hw))
    return Distortion(model, d, intrinsics)


def rescale_camera_info(info: CameraInfo, intrinsics: Intrinsics,
                        out_hw: tuple[int, int], in_hw: tuple[int, int]) -> CameraInfo:
    """CameraInfo for the depth image: the input's, with K and P scaled to ``out_hw``.

    The depth image is pixel-aligned with the input image (``in_hw``, whose pinhole
    ``intrinsics`` the node used), so the input's distortion model, D and R are kept; K and P
    are the input's scaled to the depth's size (P's stereo term with fx: ``P[3] = -fx' * B``),
    filled from ``intrinsics`` where the input left them empty; binning and ROI are reset.
    """
    info_hw = (int(info.height), int(info.width))
    if info_hw[0] <= 0 or info_hw[1] <= 0:
        info_hw = tuple(in_hw)
    sx = out_hw[1] / info_hw[1]
    sy = out_hw[0] / info_hw[0]

    def scaled(m: list[float], cols: int, fallback: Intrinsics) -> list[float]:
        fx, cx, fy, cy = m[0], m[2], m[cols + 1], m[cols + 2]
        if fx == 0.0 and fy == 0.0:  # empty in the input: the intrinsics the node used
            f = scale_intrinsics(fallback, tuple(in_hw), tuple(out_hw))
            out = [0.0] * (3 * cols)
            out[0], out[2], out[cols + 1], out[cols + 2], out[2 * cols + 2] = (
                f.fx, f.cx, f.fy, f.cy, 1.0)
            return out
        out = [float(v) for v in m]
        out[0], out[1] = fx * sx, float(m[1]) * sx
        out[2] = (cx + 0.5) * sx - 0.5
        out[cols + 1], out[cols + 2] = fy * sy, (cy + 0.5) * sy - 0.5
        if cols == 4:
            out[3], out[7] = float(m[3]) * sx, float(m[7]) * sy
        return out

    out = CameraInfo()
    out.header = info.header
    out.height, out.width = int(out_hw[0]), int(out_hw[1])
    out.distortion_model = info.distortion_model
    out.d = [float(v) for v in info.d]
    out.r = [float(v) for v in info.r] if any(info.r) else [1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0]
    out.k = scaled(list(info.k), 3, intrinsics)
    out.p = scaled(list(info.p), 4, intrinsics)
    return out
