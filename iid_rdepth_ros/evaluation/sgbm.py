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
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from iid_rdepth_ros.evaluation.metrics import MetricAccumulator, valid_mask


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


def evaluate_sgbm(data_dir: str | Path, model_name_or_path: str | None = None, aux: bool = True,
                  steps: int | None = None, batch_size: int = 4,
                  num_threads: int | None = None, progress: bool = True, *,
                  frames: int | None = None, near_m: float = 2.0,
                  params: SgbmParams | None = None, min_depth: float = 1e-3,
                  max_depth: float = 80.0, garg_crop: bool = False,
                  device: str = "cpu") -> dict[str, Any]:
    """Score SGBM on a synth-street directory over its own valid pixels.

    Top level: SGBM's ``METRIC_KEYS``, ``frames`` and ``coverage`` (valid-GT pixels with an SGBM
    depth / all valid-GT pixels, pooled over frames), ``method``, ``sgbm_params``, ``data``,
    ``protocol``, ``timing``. With ``model_name_or_path``: ``network_same_pixels`` (the model's
    metrics restricted to SGBM's pixels, same frames) and ``network_all_pixels``.
    """
    from iid_rdepth_ros.bench.evaluate import (
        aux_engaged,
        check_data_dir,
        data_info,
        effective_steps,
        load_model,
        model_info,
        open_frames,
        predict,
        protocol_info,
        set_threads,
    )

    set_threads(num_threads)
    check_data_dir(data_dir)
    model = card = None
    if model_name_or_path is not None:
        model, card = load_model(model_name_or_path, device)
        input_size = tuple(model.cfg.input_size)
    else:
        input_size = (32, 32)  # images are not fed to a network; only the raw frames are read
    data = open_frames(data_dir, input_size, aux=bool(aux) and model is not None, frames=frames)
    first = data.raw(0)
    height, width = np.asarray(first["image"]).shape[:2]
    if params is None:
        fb = float(first["fx"]) * float(first["baseline_m"])
        params = SgbmParams.for_camera(fb, width, near_m)
    matcher = SgbmMatcher(params)

    sgbm_acc = MetricAccumulator(min_depth, max_depth, garg_crop)
    same_acc = MetricAccumulator(min_depth, max_depth, garg_crop)
    all_acc = MetricAccumulator(min_depth, max_depth, garg_crop)
    covered = total = 0
    sgbm_s = 0.0
    masks: list[np.ndarray] = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(data), desc="evaluate sgbm", unit="frame")
    t_start = time.perf_counter()
    for i in range(len(data)):
        item = data.raw(i)
        t0 = time.perf_counter()
        depth = matcher.depth(np.asarray(item["image"]), np.asarray(item["aux"]),
                              float(item["fx"]), float(item["baseline_m"]))
        sgbm_s += time.perf_counter() - t0
        gt = np.asarray(item["depth"], dtype=np.float32)
        has = np.isfinite(depth)
        gt_valid = valid_mask(gt, min_depth, max_depth, garg_crop)
        covered += int((has & gt_valid).sum())
        total += int(gt_valid.sum())
        sgbm_acc.update(depth, gt, mask=has)
        masks.append(has)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    if total == 0:
        raise ValueError(f"{data_dir}: no valid ground-truth pixels in the evaluated frames")

    result: dict[str, Any] = sgbm_acc.result()
    result.update(
        coverage=covered / total,
        method="opencv-stereo-sgbm",
        sgbm_params=params.as_dict(),
        data=data_info(data, data_dir),
        protocol=protocol_info(min_depth, max_depth, garg_crop),
        timing={"wall_s": round(time.perf_counter() - t_start, 3),
                "sgbm_ms_per_frame": round(1000.0 * sgbm_s / len(data), 2)},
    )
    if model is not None:
        for pos, pred, gt in predict(model, data, aux, steps, batch_size, progress,
                                     desc="evaluate network"):
            all_acc.update(pred, gt)
            same_acc.update(pred, gt, mask=masks[pos])
        result["network_same_pixels"] = same_acc.result()
        result["network_all_pixels"] = all_acc.result()
        result["model"] = model_info(model, card or {}, model_name_or_path)
        result["aux"] = bool(aux)
        result["aux_engaged"] = aux_engaged(model, aux)
        result["steps"] = effective_steps(model, steps)
    return result


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
