"""OpenCV StereoSGBM scored like a model (``iid-rdepth evaluate --sgbm``), on its own valid
pixels with its coverage, optionally beside a model on the same pixels."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

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
from iid_rdepth_ros.evaluation.metrics import MetricAccumulator, valid_mask
from iid_rdepth_ros.evaluation.sgbm import SgbmMatcher, SgbmParams


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
