"""Evaluate a depth model on a synth-street directory with the standard depth metrics.

Protocol (see ``metrics``): ground truth is the *dense* depth map (0 = sky, excluded), capped
at ``max_depth`` (80 m), ``min_depth`` 1e-3, no median scaling; metrics are computed per frame
and averaged over frames. Images are resized to the model's input size; the prediction (depth at
the canonical focal) is rescaled to metric depth with ``f_net / f_canonical``
(``model.focal``) and resized bilinearly to the ground truth's size before scoring. In stereo
mode the right image is given with ``fb = f_canonical * B`` (``model.focal.stereo_fb``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from iid_rdepth_ros.training.metrics import METRIC_KEYS, MetricAccumulator

#: model-card keys copied into evaluation results
CARD_KEYS = ("variant", "stage", "steps", "data", "command", "wall_time_s")


def load_model(model_name_or_path: str, device: str = "cpu") -> tuple[Any, dict[str, Any]]:
    """``(model, card)`` in eval mode on ``device`` via ``model.checkpoint.load_checkpoint``."""
    from iid_rdepth_ros.model.checkpoint import load_checkpoint

    model, card = load_checkpoint(str(model_name_or_path))
    model.to(device).eval()
    return model, dict(card or {})


def check_data_dir(data_dir: str | Path) -> Path:
    """The data directory as a Path; FileNotFoundError if it does not exist."""
    root = Path(data_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"data directory {root} does not exist")
    return root


def open_frames(data_dir: str | Path, input_size: tuple[int, int], aux: bool,
                frames: int | None = None) -> Any:
    """The data set as ``training.frames.DepthFrames`` (``frames`` = evenly spaced subset)."""
    from iid_rdepth_ros.training.frames import DepthFrames

    if frames is not None and frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    root = check_data_dir(data_dir)
    return DepthFrames.from_dir(root, input_size, aux=aux, limit=frames or 0)


def aux_engaged(model: Any, aux: bool) -> bool:
    """Whether the auxiliary view actually reaches the network (needs AV-LFE)."""
    return bool(aux) and getattr(model, "avlfe", None) is not None


def effective_steps(model: Any, steps: int | None) -> int | None:
    """Diffusion steps T the model runs in eval mode (None without a diffusion stage)."""
    if getattr(model, "diffusion", None) is None:
        return None
    if steps is not None and steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    return int(model.diffusion_steps(steps))


def predict(model: Any, data: Any, aux: bool, steps: int | None = None, batch_size: int = 4,
            progress: bool = True, desc: str = "evaluate",
            timing: dict[str, float] | None = None
            ) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Yield ``(position, depth, gt)`` per frame of ``data`` (a ``DepthFrames``).

    ``depth`` is metric (H, W) float32 at the ground truth's size, ``gt`` the dense depth.
    ``timing`` (optional dict) accumulates ``model_s`` (forward time) and ``frames``.
    """
    import torch
    from iid_rdepth_ros.training.frames import collate
    from torch.nn import functional as F

    from iid_rdepth_ros.model.focal import stereo_fb

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    canonical = float(model.cfg.canonical_focal)
    device = next(model.parameters()).device
    use_aux = aux_engaged(model, aux)
    loader = torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=False,
                                         collate_fn=collate, num_workers=0)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(data), desc=desc, unit="frame")
    position = 0
    try:
        with torch.inference_mode():
            for b in loader:
                fx = b["fx"].double()
                fb = None
                if use_aux:  # the network takes f_canonical * B (see model.focal)
                    fb = torch.tensor([stereo_fb(bl, canonical) for bl in b["baseline"].tolist()],
                                      dtype=torch.float32, device=device)
                image = b["image"].to(device)
                aux_img = b["aux"].to(device) if use_aux else None
                t0 = time.perf_counter()
                out = model(image, aux=aux_img, fb=fb, steps=steps)
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                if timing is not None:
                    timing["model_s"] = timing.get("model_s", 0.0) + time.perf_counter() - t0
                    timing["frames"] = timing.get("frames", 0) + len(out)
                out = out.float().cpu()
                gt = b["depth"]
                if out.shape[-2:] != gt.shape[-2:]:
                    out = F.interpolate(out, size=tuple(gt.shape[-2:]), mode="bilinear",
                                        align_corners=False)
                out = out * (fx / canonical).to(out.dtype).view(-1, 1, 1, 1)
                for i in range(len(out)):
                    yield position, out[i, 0].numpy(), gt[i, 0].numpy()
                    position += 1
                if bar is not None:
                    bar.update(len(out))
    finally:
        if bar is not None:
            bar.close()


def predict_runner(backend: str, model_name_or_path: str, data: Any, aux: bool,
                   steps: int | None, input_size: tuple[int, int],
                   num_threads: int | None = None, progress: bool = True,
                   desc: str = "evaluate", timing: dict[str, float] | None = None,
                   engine_path: str | None = None, device: str = "cpu"
                   ) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Like ``predict`` but through the deployment runtime (``iid_rdepth_ros.runtime``).

    Every backend gets the same frames through the same pre/post-processing, so torch,
    onnxruntime and tensorrt are scored identically. The runner's depth range is opened wide
    (the metrics clip to the protocol's range themselves); ``timing`` counts ``runner.infer``.
    """
    from iid_rdepth_ros.runtime import Intrinsics, RunnerConfig, create_runner

    tiny, huge = float(np.finfo(np.float32).tiny), float(np.finfo(np.float32).max)
    config = RunnerConfig(backend=backend, model_path=str(model_name_or_path),
                          engine_path=engine_path, input_height=input_size[0],
                          input_width=input_size[1], diffusion_steps=steps, min_depth=tiny,
                          max_depth=huge, device=device, num_threads=num_threads)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(data), desc=desc, unit="frame")
    try:
        with create_runner(config) as runner:
            use_aux = bool(aux) and bool(runner.info["stereo_capable"])
            for position in range(len(data)):
                item = data.raw(position)
                intrinsics = Intrinsics(float(item["fx"]), float(item["fy"]), float(item["cx"]),
                                        float(item["cy"]))
                t0 = time.perf_counter()
                depth = runner.infer(np.asarray(item["image"]),
                                     aux=np.asarray(item["aux"]) if use_aux else None,
                                     intrinsics=intrinsics,
                                     baseline_m=float(item["baseline_m"]) if use_aux else None)
                if timing is not None:
                    timing["model_s"] = timing.get("model_s", 0.0) + time.perf_counter() - t0
                    timing["frames"] = timing.get("frames", 0) + 1
                yield position, depth, np.asarray(item["depth"], dtype=np.float32)
                if bar is not None:
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()


def data_info(data: Any, data_dir: str | Path) -> dict[str, Any]:
    """Where the frames came from: directory, seed, size, frame counts."""
    meta = data.meta
    return {
        "dir": str(data_dir),
        "format": meta.get("format"),
        "seed": meta.get("seed"),
        "height": meta.get("height"),
        "width": meta.get("width"),
        "frames_total": meta.get("frames"),
        "frames_evaluated": len(data),
        "ground_truth": "dense depth map (0 = sky, excluded)",
    }


def model_info(model: Any, card: dict[str, Any], name: str) -> dict[str, Any]:
    """Model name, preset and the model card's provenance fields."""
    return {
        "name": str(name),
        "preset": model.cfg.name,
        "variant": getattr(model, "variant", None),
        "input_size": list(model.cfg.input_size),
        "canonical_focal": float(model.cfg.canonical_focal),
        "card": {k: card[k] for k in CARD_KEYS if k in card},
    }


def protocol_info(min_depth: float, max_depth: float, garg_crop: bool) -> dict[str, Any]:
    return {"min_depth": min_depth, "max_depth": max_depth, "garg_crop": garg_crop,
            "median_scaling": False, "aggregation": "mean of per-frame metrics",
            "silog": "sqrt(mean(e^2) - mean(e)^2) * 100, e = ln(pred) - ln(gt)"}


def set_threads(num_threads: int | None) -> None:
    """Limit torch's intra-op threads (None keeps torch's default)."""
    if num_threads is None:
        return
    if num_threads < 1:
        raise ValueError(f"num_threads must be >= 1, got {num_threads}")
    import torch

    torch.set_num_threads(int(num_threads))


def evaluate(model_name_or_path: str, data_dir: str | Path, aux: bool, steps: int | None,
             batch_size: int = 4, num_threads: int | None = None, progress: bool = True, *,
             frames: int | None = None, min_depth: float = 1e-3, max_depth: float = 80.0,
             garg_crop: bool = False, per_frame: bool = True,
             device: str = "cpu", backend: str | None = None,
             engine_path: str | None = None) -> dict[str, Any]:
    """Run a model over a synth-street directory and score it (see module docstring).

    ``backend`` (``torch`` / ``onnxruntime`` / ``tensorrt``): predict through the deployment
    runtime (``predict_runner``) instead of calling the model directly.

    Returns the ``METRIC_KEYS`` and ``frames`` at the top level, plus ``model``, ``aux``
    (requested), ``aux_engaged``, ``steps`` (effective T), ``data``, ``protocol``, ``timing``
    and, with ``per_frame``, a list of per-frame metrics.
    """
    set_threads(num_threads)
    check_data_dir(data_dir)
    model, card = load_model(model_name_or_path, device)
    data = open_frames(data_dir, model.cfg.input_size, aux, frames)
    acc = MetricAccumulator(min_depth, max_depth, garg_crop)
    timing: dict[str, float] = {}
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    mode = "stereo" if aux_engaged(model, aux) else "mono"
    if backend is None:
        predictions = predict(model, data, aux, steps, batch_size, progress,
                              desc=f"evaluate {mode}", timing=timing)
    else:
        predictions = predict_runner(backend, model_name_or_path, data, aux,
                                     effective_steps(model, steps), model.cfg.input_size,
                                     num_threads, progress, f"evaluate {mode} ({backend})",
                                     timing, engine_path, device)
    for pos, pred, gt in predictions:
        m = acc.update(pred, gt)
        if per_frame and m is not None:
            rows.append({"index": int(data.indices[pos]), **{k: m[k] for k in METRIC_KEYS}})
    wall = time.perf_counter() - t0
    result: dict[str, Any] = acc.result()
    n = max(int(timing.get("frames", 0)), 1)
    result.update(
        model=model_info(model, card, model_name_or_path),
        aux=bool(aux),
        aux_engaged=aux_engaged(model, aux),
        steps=effective_steps(model, steps),
        data=data_info(data, data_dir),
        protocol=protocol_info(min_depth, max_depth, garg_crop),
        timing={"wall_s": round(wall, 3), "model_ms_per_frame":
                round(1000.0 * timing.get("model_s", 0.0) / n, 2),
                "batch_size": batch_size, "device": str(device),
                "backend": backend or "torch (direct)"},
    )
    if per_frame:
        result["per_frame"] = rows
    return result
