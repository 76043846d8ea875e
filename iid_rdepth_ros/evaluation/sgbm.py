"""OpenCV StereoSGBM baseline: classical stereo depth on the same rectified frames.

Parameters follow the usual KITTI-style set-up for OpenCV's semi-global matcher: block size 5,
``P1 = 8 * 3 * bs^2`` and ``P2 = 32 * 3 * bs^2`` (3-channel images), uniqueness 10 %, speckle
filtering (window 100 px, range 2), left-right check 1 px, 3-way SGBM mode. The disparity search
range (``numDisparities``, a multiple of 16) is chosen to cover the data: from disparity 0 up to
``f * B / near_m`` for the nearest depth of interest ``near_m``.

Depth is ``fx * B / disparity`` over the pixels where SGBM returns a disparity; elsewhere NaN.
SGBM cannot match the leftmost ``numDisparities`` columns (no partner in the right image), in
occlusions and on textureless areas, so it is evaluated on *its* valid pixels and its
``coverage`` (fraction of valid ground-truth pixels that got an SGBM depth) is reported with it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class SgbmParams:
    """StereoSGBM settings (see module docstring for the defaults' rationale)."""

    num_disparities: int = 128
    block_size: int = 5
    min_disparity: int = 0
    uniqueness_ratio: int = 10
    speckle_window_size: int = 100
    speckle_range: int = 2
    disp12_max_diff: int = 1
    pre_filter_cap: int = 63
    mode: str = "sgbm_3way"  # sgbm_3way | hh | hh4 | sgbm

    def __post_init__(self) -> None:
        if self.num_disparities <= 0 or self.num_disparities % 16:
            raise ValueError(
                f"num_disparities must be a positive multiple of 16, got {self.num_disparities}"
            )
        if self.block_size < 1 or self.block_size % 2 == 0:
            raise ValueError(f"block_size must be odd and >= 1, got {self.block_size}")
        if self.mode not in _MODES:
            raise ValueError(f"mode must be one of {sorted(_MODES)}, got {self.mode!r}")

    @property
    def p1(self) -> int:
        return 8 * 3 * self.block_size**2

    @property
    def p2(self) -> int:
        return 32 * 3 * self.block_size**2

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "P1": self.p1, "P2": self.p2}

    @classmethod
    def for_camera(cls, fb: float, width: int, near_m: float = 2.0, **kw: object) -> SgbmParams:
        """Search range covering depths from ``near_m`` to infinity for ``fb = fx * B``.

        Rounded up to a multiple of 16 and capped at half the image width.
        """
        if not (fb > 0 and near_m > 0 and width >= 32):
            raise ValueError(f"need fb > 0, near_m > 0, width >= 32; got {fb}, {near_m}, {width}")
        num = 16 * math.ceil(fb / near_m / 16)
        cap = max(16, (width // 2) // 16 * 16)
        return cls(num_disparities=min(num, cap), **kw)  # type: ignore[arg-type]


_MODES = {
    "sgbm": "STEREO_SGBM_MODE_SGBM",
    "sgbm_3way": "STEREO_SGBM_MODE_SGBM_3WAY",
    "hh": "STEREO_SGBM_MODE_HH",
    "hh4": "STEREO_SGBM_MODE_HH4",
}


class SgbmMatcher:
    """A configured ``cv2.StereoSGBM`` that maps a rectified RGB pair to disparity / depth."""

    def __init__(self, params: SgbmParams) -> None:
        import cv2

        self.params = params
        self._sgbm = cv2.StereoSGBM_create(
            minDisparity=params.min_disparity,
            numDisparities=params.num_disparities,
            blockSize=params.block_size,
            P1=params.p1,
            P2=params.p2,
            disp12MaxDiff=params.disp12_max_diff,
            preFilterCap=params.pre_filter_cap,
            uniquenessRatio=params.uniqueness_ratio,
            speckleWindowSize=params.speckle_window_size,
            speckleRange=params.speckle_range,
            mode=getattr(cv2, _MODES[params.mode]),
        )

    def disparity(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """Disparity in pixels ``(H, W)`` float32; NaN where SGBM found no valid match."""
        left = np.ascontiguousarray(left)
        right = np.ascontiguousarray(right)
        if left.shape != right.shape or left.ndim != 3 or left.shape[2] != 3:
            raise ValueError(
                f"need two (H, W, 3) images of the same size, got {left.shape} and {right.shape}"
            )
        if left.dtype != np.uint8 or right.dtype != np.uint8:
            raise ValueError(f"images must be uint8, got {left.dtype} and {right.dtype}")
        raw = self._sgbm.compute(left, right)  # int16, disparity * 16
        disp = raw.astype(np.float32) / 16.0
        disp[raw <= max(self.params.min_disparity, 0) * 16] = np.nan
        return disp

    def depth(
        self, left: np.ndarray, right: np.ndarray, fx: float, baseline_m: float
    ) -> np.ndarray:
        """Depth in metres ``(H, W)`` float32 = ``fx * B / disparity``; NaN where invalid."""
        if not (fx > 0 and baseline_m > 0):
            raise ValueError(f"need fx > 0 and baseline > 0, got {fx} and {baseline_m}")
        disp = self.disparity(left, right)
        with np.errstate(divide="ignore", invalid="ignore"):
            return (fx * baseline_m / disp).astype(np.float32)


#: nearest depth the SGBM hints search for (sets the disparity range, ``SgbmParams.for_camera``)
HINT_NEAR_M = 2.0


def sgbm_hints(images: Any, aux: Any, fx: Any, baseline: Any, size: tuple[int, int],
               near_m: float = HINT_NEAR_M) -> np.ndarray:
    """SGBM depth hints for a collated batch: (B, 1, h, w) float32 metres, 0 where SGBM found
    no match (the "no measurement" value of the ground truth).

    ``images`` / ``aux``: (B, 3, H, W) RGB in [0, 1] (tensors or arrays) at the network input
    size, ``fx`` the focal at that size and ``baseline`` (B,) in metres. SGBM runs at the input
    size with the search range of ``SgbmParams.for_camera``; the depth is resized to ``size``
    (the ground truth's) by nearest neighbour so no depth is invented across an edge.
    """
    import cv2

    left = np.asarray(images, dtype=np.float32)
    right = np.asarray(aux, dtype=np.float32)
    if left.shape != right.shape or left.ndim != 4 or left.shape[1] != 3:
        raise ValueError(f"need two (B, 3, H, W) image batches of the same shape, got "
                         f"{left.shape} and {right.shape}")
    fx = np.asarray(fx, dtype=np.float64).reshape(-1)
    baseline = np.asarray(baseline, dtype=np.float64).reshape(-1)
    b, _, _, width = left.shape
    out = np.zeros((b, 1, *size), dtype=np.float32)
    matchers: dict[SgbmParams, SgbmMatcher] = {}
    for i in range(b):
        params = SgbmParams.for_camera(float(fx[i] * baseline[i]), width, near_m)
        matcher = matchers.setdefault(params, SgbmMatcher(params))
        to_u8 = [np.clip(np.rint(x[i].transpose(1, 2, 0) * 255), 0, 255).astype(np.uint8)
                 for x in (left, right)]
        depth = matcher.depth(*to_u8, float(fx[i]), float(baseline[i]))
        depth = np.nan_to_num(depth, nan=0.0, posinf=0.0, neginf=0.0)
        if depth.shape != tuple(size):
            depth = cv2.resize(depth, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)
        out[i, 0] = depth
    return out
