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
    predict_runner,
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
                  device: str = "cpu", dataset: str = "synth", split: str | None = None,
                  options: dict[str, Any] | None = None, backend: str | None = None,
                  engine_path: str | None = None) -> dict[str, Any]:
    """Score SGBM on a stereo data set over its own valid pixels.

    ``dataset`` / ``split`` / ``options``: see ``open_frames`` (synth-street: ``data_dir`` is
    the directory). Without ``params`` each frame gets the search range of its own camera
    (``SgbmParams.for_camera(fx * B, width, near_m)``). ``backend``: run the model through the
    deployment runtime (``predict_runner``) instead of calling it directly.

    Top level: SGBM's ``METRIC_KEYS``, ``frames`` and ``coverage`` (valid-GT pixels with an SGBM
    depth / all valid-GT pixels, pooled over frames), ``method``, ``sgbm_params`` (the first
    frame's), ``data``, ``protocol``, ``timing``. With ``model_name_or_path``:
    ``network_same_pixels`` (the model's metrics restricted to SGBM's pixels, same frames) and
    ``network_all_pixels``.
    """
    from iid_rdepth_ros.datasets import get_dataset
    from iid_rdepth_ros.datasets.frames import eval_depth

    if get_dataset(dataset).stereo is False:
        raise ValueError(f"SGBM needs a right view: the {dataset} data set is mono only")
    set_threads(num_threads)
    check_data_dir(data_dir)
    model = card = None
    if model_name_or_path is not None:
        model, card = load_model(model_name_or_path, device)
        input_size = tuple(model.cfg.input_size)
    else:
        input_size = (32, 32)  # images are not fed to a network; only the raw frames are read
    # SGBM always needs the right view; whether the network sees it is ``aux`` (``predict``)
    data = open_frames(data_dir, input_size, aux=True, frames=frames, dataset=dataset,
                       split=split, options=options)
    if not data.aux:
        raise ValueError(f"{data_dir} has no right images: SGBM needs a stereo pair")
    matchers: dict[tuple[float, int], SgbmMatcher] = {}

    def matcher_for(item: dict[str, Any]) -> SgbmMatcher:
        width = np.asarray(item["image"]).shape[1]
        fb = float(item["fx"]) * float(item["baseline_m"])
        key = (round(fb, 6), width) if params is None else (0.0, 0)
        if key not in matchers:
            matchers[key] = SgbmMatcher(params or SgbmParams.for_camera(fb, width, near_m))
        return matchers[key]

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
        matcher = matcher_for(item)
        t0 = time.perf_counter()
        depth = matcher.depth(np.asarray(item["image"]), np.asarray(item["aux"]),
                              float(item["fx"]), float(item["baseline_m"]))
        sgbm_s += time.perf_counter() - t0
        gt = eval_depth(item)
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
        sgbm_params=next(iter(matchers.values())).params.as_dict(),
        data=data_info(data, data_dir, dataset),
        protocol=protocol_info(min_depth, max_depth, garg_crop),
        timing={"wall_s": round(time.perf_counter() - t_start, 3),
                "sgbm_ms_per_frame": round(1000.0 * sgbm_s / len(data), 2)},
    )
    if model is not None:
        if backend is None:
            pairs = predict(model, data, aux, steps, batch_size, progress,
                            desc="evaluate network")
        else:
            pairs = predict_runner(backend, model_name_or_path, data, aux,
                                   effective_steps(model, steps), input_size, num_threads,
                                   progress, f"evaluate network ({backend})",
                                   engine_path=engine_path, device=device)
        for pos, pred, gt in pairs:
            all_acc.update(pred, gt)
            same_acc.update(pred, gt, mask=masks[pos])
        result["network_same_pixels"] = same_acc.result()
        result["network_all_pixels"] = all_acc.result()
        result["model"] = model_info(model, card or {}, model_name_or_path)
        result["aux"] = bool(aux)
        result["aux_engaged"] = aux_engaged(model, aux)
        result["steps"] = effective_steps(model, steps)
        result["timing"]["network_backend"] = backend or "torch (direct)"
    return result
