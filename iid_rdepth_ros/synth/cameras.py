"""Stereo cameras of synth-street: the rectified pair a sequence is rendered with, how one is
drawn at random, and how a caller overrides it ("the same scene with another camera").

Conventions (OpenCV, pixel centres at integer coordinates): both views are pinhole cameras with
the same orientation and square pixels (`fx == fy`); the right camera sits `baseline_m` along
the left camera's +x axis. Its *calibrated* (nominal) projection matrix is
`P_right = [[fx, 0, cx_right, -fx * B], [0, fy, cy_right, 0], [0, 0, 1, 0]]`, so a point at
depth Z seen at column u in the left view is at column `u - disparity(Z)` in the right view with
`disparity(Z) = fx * B / Z + (cx - cx_right)`. A vertical misalignment `dy_px` is a calibration
error, not part of `P_right`: the right image is rendered as if its principal point were
`cy_right + dy_px`, so a point at row v in the left view appears at row `v + dy_px` in the right.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

KITTI_HEIGHT, KITTI_WIDTH = 375, 1242
KITTI_FX, KITTI_CX, KITTI_CY = 721.5377, 609.5593, 172.854
KITTI_BASELINE_M = 0.54

CAMERA_UNIFORMS = 6  # uniforms `CameraRandomization.draw` takes

#: Image sizes (height, width) the randomised cameras draw from: 4:3, 16:9 and KITTI-like
#: (~3.3:1), each at a small and a larger size.
RESOLUTIONS: tuple[tuple[int, int], ...] = (
    (240, 320), (480, 640),  # 4:3
    (288, 512), (360, 640), (540, 960),  # 16:9
    (192, 640), (375, 1242),  # KITTI-like
)


@dataclass(frozen=True)
class StereoCamera:
    """One rectified stereo pair (see the module docstring for the conventions)."""

    height: int
    width: int
    fx: float
    fy: float
    cx: float
    cy: float
    baseline_m: float
    cx_right: float
    cy_right: float
    dy_px: float = 0.0  # true vertical offset of the right view, not in P_right

    def __post_init__(self) -> None:
        if int(self.height) < 8 or int(self.width) < 8:
            raise ValueError(f"image size must be at least 8x8, got {self.height}x{self.width}")
        for name in ("fx", "fy", "baseline_m"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"camera {name} must be a finite number > 0, got {v!r}")
        for name in ("cx", "cy", "cx_right", "cy_right", "dy_px"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"camera {name} must be finite, got {getattr(self, name)!r}")

    @property
    def k(self) -> np.ndarray:
        """3x3 intrinsics of the left camera."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def k_right(self) -> np.ndarray:
        """3x3 nominal (calibrated) intrinsics of the right camera."""
        return np.array([[self.fx, 0.0, self.cx_right], [0.0, self.fy, self.cy_right],
                         [0.0, 0.0, 1.0]])

    @property
    def k_right_true(self) -> np.ndarray:
        """Intrinsics the right view is rendered with: nominal plus the vertical offset."""
        k = self.k_right
        k[1, 2] += self.dy_px
        return k

    @property
    def p_left(self) -> np.ndarray:
        """3x4 projection matrix of the left camera (its own frame)."""
        return np.hstack([self.k, np.zeros((3, 1))])

    @property
    def p_right(self) -> np.ndarray:
        """3x4 nominal projection matrix of the right camera in the left camera's frame."""
        p = np.hstack([self.k_right, np.zeros((3, 1))])
        p[0, 3] = -self.fx * self.baseline_m
        return p

    def disparity(self, depth: np.ndarray) -> np.ndarray:
        """Horizontal disparity (left column - right column, pixels) of left-view depth (m);
        0 where depth is 0 (no measurement)."""
        d = np.asarray(depth, np.float64)
        ok = d > 0
        disp = self.fx * self.baseline_m / np.where(ok, d, 1.0) + (self.cx - self.cx_right)
        return np.where(ok, disp, 0.0)

    @property
    def hfov_deg(self) -> float:
        """Horizontal field of view (degrees) for a centred principal point."""
        return float(np.degrees(2 * np.arctan(0.5 * self.width / self.fx)))

    def to_json(self) -> dict:
        """Plain-number record (as written to frames.jsonl)."""
        return {"height": int(self.height), "width": int(self.width), "fx": float(self.fx),
                "fy": float(self.fy), "cx": float(self.cx), "cy": float(self.cy),
                "cx_right": float(self.cx_right), "cy_right": float(self.cy_right),
                "baseline_m": float(self.baseline_m), "right_dy_px": float(self.dy_px)}


def kitti_like_camera(height: int, width: int, baseline_m: float = KITTI_BASELINE_M,
                      dy_px: float = 0.0) -> StereoCamera:
    """The KITTI colour camera scaled to `height` x `width` (the street mode's fixed camera)."""
    if height < 8 or width < 8:
        raise ValueError(f"image size must be at least 8x8, got {height}x{width}")
    fx = KITTI_FX * width / KITTI_WIDTH
    cx, cy = KITTI_CX * width / KITTI_WIDTH, KITTI_CY * height / KITTI_HEIGHT
    return StereoCamera(height=int(height), width=int(width), fx=fx, fy=fx, cx=cx, cy=cy,
                        baseline_m=baseline_m, cx_right=cx, cy_right=cy, dy_px=dy_px)


@dataclass(frozen=True)
class CameraOverride:
    """Replace parts of a sequence's camera: focal length (px), baseline (m), image size.

    Unset fields keep the drawn (or fixed) value; a new image size keeps the principal point's
    relative position (or takes `cx`, `cy` when given). The scene never depends on the camera,
    so the same seed with two overrides renders the same scene through two cameras.
    """

    focal_px: float | None = None
    baseline_m: float | None = None
    height: int | None = None
    width: int | None = None
    cx: float | None = None
    cy: float | None = None

    def __post_init__(self) -> None:
        if (self.height is None) != (self.width is None):
            raise ValueError("camera override: give both height and width, or neither")
        if self.height is not None and (int(self.height) < 8 or int(self.width) < 8):
            raise ValueError(f"camera override: image size must be at least 8x8, got "
                             f"{self.height}x{self.width}")
        for name in ("focal_px", "baseline_m"):
            v = getattr(self, name)
            if v is not None and not (math.isfinite(v) and v > 0):
                raise ValueError(f"camera override: {name} must be a finite number > 0, "
                                 f"got {v!r}")

    @property
    def size(self) -> tuple[int, int] | None:
        return None if self.height is None else (int(self.height), int(self.width))

    def apply(self, cam: StereoCamera) -> StereoCamera:
        """`cam` with the overridden parts replaced (right cx/cy keep their offsets)."""
        out = cam
        if self.size is not None and self.size != (cam.height, cam.width):
            h, w = self.size
            sx, sy = w / cam.width, h / cam.height  # pixel-edge convention, as cv2.resize
            cx, cy = (cam.cx + 0.5) * sx - 0.5, (cam.cy + 0.5) * sy - 0.5
            out = replace(out, height=h, width=w, cx=cx, cy=cy,
                          cx_right=cx + (cam.cx_right - cam.cx),
                          cy_right=cy + (cam.cy_right - cam.cy))
        if self.cx is not None or self.cy is not None:
            cx = out.cx if self.cx is None else float(self.cx)
            cy = out.cy if self.cy is None else float(self.cy)
            out = replace(out, cx=cx, cy=cy, cx_right=cx + (out.cx_right - out.cx),
                          cy_right=cy + (out.cy_right - out.cy))
        if self.focal_px is not None:
            out = replace(out, fx=float(self.focal_px), fy=float(self.focal_px))
        if self.baseline_m is not None:
            out = replace(out, baseline_m=float(self.baseline_m))
        return out

    def to_json(self) -> dict:
        return {k: getattr(self, k) for k in ("focal_px", "baseline_m", "height", "width", "cx",
                                              "cy")}


def _log_uniform(u: float, lo: float, hi: float) -> float:
    return float(math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo))))


@dataclass(frozen=True)
class CameraRandomization:
    """How a sequence's stereo camera is drawn.

    The focal length is log-uniform in `focal_px`, intersected per image width with the focal
    lengths that give a horizontal field of view within `hfov_deg` (so a small image does not
    get a telescope and a wide one no fisheye); the baseline is log-uniform in `baseline_m`;
    the principal point sits within `principal_offset` (fraction of the size) of the centre;
    the right camera's nominal cx differs by up to `right_cx_offset_px`.
    """

    resolutions: tuple[tuple[int, int], ...] = RESOLUTIONS
    focal_px: tuple[float, float] = (250.0, 1500.0)
    hfov_deg: tuple[float, float] = (30.0, 120.0)
    baseline_m: tuple[float, float] = (0.05, 0.6)
    principal_offset: float = 0.03
    right_cx_offset_px: float = 0.0

    def __post_init__(self) -> None:
        if not self.resolutions:
            raise ValueError("camera randomisation needs at least one resolution")
        for h, w in self.resolutions:
            if int(h) < 8 or int(w) < 8:
                raise ValueError(f"resolution {h}x{w} is smaller than 8x8")
        for name in ("focal_px", "hfov_deg", "baseline_m"):
            lo, hi = getattr(self, name)
            if not (0 < lo <= hi):
                raise ValueError(f"camera randomisation {name} must be 0 < lo <= hi, "
                                 f"got {(lo, hi)}")
        if self.hfov_deg[1] >= 180:
            raise ValueError("camera randomisation hfov_deg must stay below 180")
        if not 0 <= self.principal_offset < 0.5 or self.right_cx_offset_px < 0:
            raise ValueError("principal_offset must be in [0, 0.5) and right_cx_offset_px >= 0")
        for w in {int(w) for _, w in self.resolutions}:
            self.focal_range(w)

    def focal_range(self, width: int, strict: bool = True) -> tuple[float, float]:
        """Focal lengths (px) allowed for an image `width` pixels wide. Where none in
        `focal_px` gives a field of view in `hfov_deg` (an override to a tiny or huge image),
        ValueError, or with `strict=False` the field-of-view range alone."""
        lo_fov, hi_fov = (math.radians(a) for a in self.hfov_deg)
        f_lo, f_hi = 0.5 * width / math.tan(0.5 * hi_fov), 0.5 * width / math.tan(0.5 * lo_fov)
        lo, hi = max(self.focal_px[0], f_lo), min(self.focal_px[1], f_hi)
        if lo > hi:
            if not strict:
                return f_lo, f_hi
            raise ValueError(f"no focal length in {self.focal_px} px gives a horizontal field of "
                             f"view in {self.hfov_deg} deg at width {width}")
        return lo, hi

    def draw(self, u: np.ndarray, override: CameraOverride | None = None) -> StereoCamera:
        """The camera for uniforms `u` (6 numbers in [0, 1)); `override` replaces parts of it
        before the draw, so the other parameters keep their values."""
        ov = override or CameraOverride()
        h, w = ov.size or self.resolutions[min(int(u[0] * len(self.resolutions)),
                                               len(self.resolutions) - 1)]
        f = (ov.focal_px if ov.focal_px is not None
             else _log_uniform(u[1], *self.focal_range(w, strict=False)))
        b = ov.baseline_m if ov.baseline_m is not None else _log_uniform(u[2], *self.baseline_m)
        cx = (w - 1) / 2 + (2 * u[3] - 1) * self.principal_offset * w
        cy = (h - 1) / 2 + (2 * u[4] - 1) * self.principal_offset * h
        cx = cx if ov.cx is None else float(ov.cx)
        cy = cy if ov.cy is None else float(ov.cy)
        dcx = (2 * u[5] - 1) * self.right_cx_offset_px
        return StereoCamera(height=int(h), width=int(w), fx=float(f), fy=float(f), cx=float(cx),
                            cy=float(cy), baseline_m=float(b), cx_right=float(cx + dcx),
                            cy_right=float(cy))

    def to_json(self) -> dict:
        return {"resolutions": [list(r) for r in self.resolutions],
                "focal_px": list(self.focal_px), "hfov_deg": list(self.hfov_deg),
                "baseline_m": list(self.baseline_m), "principal_offset": self.principal_offset,
                "right_cx_offset_px": self.right_cx_offset_px}
