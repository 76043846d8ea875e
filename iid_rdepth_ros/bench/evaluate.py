"""Evaluate a depth model (or saved predictions) with the standard depth metrics.

Data: any registered data set (``datasets``): synth-street (dense ground truth, sky
excluded), KITTI (Eigen splits; Garg crop, optional KB crop), NYU Depth v2 (Eigen crop,
1e-3..10 m) or a folder of your own. Protocol (see ``metrics``): ground truth valid in
``(min_depth, max_depth)`` (the data set's range unless given) and inside the data set's
evaluation crop, predictions clipped to that range, no median scaling; metrics are computed per
frame and averaged over frames. Images are resized to the model's input size; the prediction
(depth at the canonical focal) is rescaled to metric depth with ``f_net / f_canonical``
(``model.focal``) and resized bilinearly to the ground truth's size before scoring. In stereo
mode the right image is given with ``fb = f_canonical * B`` (``model.focal.stereo_fb``).

Saved predictions (``predictions=DIR``) are scored the same way: ``DIR/<frame name>.npy``
(float metres) or ``.png`` (uint16, metres * 256, the KITTI benchmark format) at the ground
truth's size; ``save_predictions=DIR`` writes a model's predictions as such ``.npy`` files.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from iid_rdepth_ros.evaluation.metrics import METRIC_KEYS, MetricAccumulator

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
                frames: int | None = None, *, dataset: str = "synth", split: str | None = None,
                options: dict[str, Any] | None = None) -> Any:
    """The data set as ``datasets.frames.DepthFrames`` (``frames`` = evenly spaced subset).

    ``data_dir``: the synth-street directory (with ``split``: its parent) or the data root of
    another data set; ``split`` defaults to the data set's test split; ``options`` go to its
    reader (``eval_crop``, KITTI ``gt`` / ``gt_root`` / ``kb_crop``).
    """
    from iid_rdepth_ros.datasets import get_dataset
    from iid_rdepth_ros.datasets.frames import DepthFrames

    if frames is not None and frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    spec = get_dataset(dataset)
    if dataset == "synth" and split is None and not options:
        root = check_data_dir(data_dir)
        return DepthFrames.from_dir(root, input_size, aux=aux, limit=frames or 0)
    root = Path(data_dir)
    if not root.exists():
        raise FileNotFoundError(f"data directory {root} does not exist")
    if dataset == "synth" and split is None:
        root, split = root.parent, root.name
    split = split or spec.test_split
    if split is None:
        raise ValueError(f"the {dataset} data set needs --split")
    return DepthFrames.from_dataset(dataset, split, input_size, root=root, aux=aux,
                                    limit=frames or 0, **(options or {}))


def aux_engaged(model: Any, aux: bool) -> bool:
    """Whether the auxiliary view actually reaches the network (AV-LFE or the matcher)."""
    return bool(aux) and bool(getattr(model, "has_stereo", False))


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
    from functools import partial

    import torch
    from torch.nn import functional as F

    from iid_rdepth_ros.datasets.frames import collate
    from iid_rdepth_ros.model.focal import stereo_fb

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    canonical = float(model.cfg.canonical_focal)
    device = next(model.parameters()).device
    use_aux = aux_engaged(model, aux)
    loader = torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=False,
                                         collate_fn=partial(collate, ragged=True),
                                         num_workers=0)
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
                gts = b["depth"]  # a list when the frames' sizes differ (ragged collate)
                scale = (fx / canonical).to(out.dtype)
                for i in range(len(out)):
                    o, gt = out[i:i + 1], gts[i]
                    if o.shape[-2:] != gt.shape[-2:]:
                        o = F.interpolate(o, size=tuple(gt.shape[-2:]), mode="bilinear",
                                          align_corners=False)
                    yield position, (o[0, 0] * scale[i]).numpy(), gt[0].numpy()
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
    from iid_rdepth_ros.datasets.frames import eval_depth
    from iid_rdepth_ros.export.open_runner import open_runner
    from iid_rdepth_ros.runtime import Intrinsics, RunnerConfig

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
        with open_runner(config) as runner:
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
                yield position, depth, eval_depth(item)
                if bar is not None:
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()


def data_info(data: Any, data_dir: str | Path, dataset: str = "synth") -> dict[str, Any]:
    """Where the frames came from: directory, data set, split, seed, size, frame counts."""
    meta = data.meta
    info = {
        "dir": str(data_dir),
        "dataset": dataset,
        "format": meta.get("format"),
        "seed": meta.get("seed"),
        "height": meta.get("height"),
        "width": meta.get("width"),
        "frames_total": meta.get("frames"),
        "frames_evaluated": len(data),
        "ground_truth": meta.get("ground_truth", "dense depth map (0 = sky, excluded)"),
    }
    if dataset != "synth":
        info["meta"] = meta
        info["split"] = meta.get("split")
    return info


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


def protocol_info(min_depth: float, max_depth: float, garg_crop: bool,
                  eval_crop: str | None = None, kb_crop: bool | None = None) -> dict[str, Any]:
    info = {"min_depth": min_depth, "max_depth": max_depth, "garg_crop": garg_crop,
            "median_scaling": False, "aggregation": "mean of per-frame metrics",
            "silog": "sqrt(mean(e^2) - mean(e)^2) * 100, e = ln(pred) - ln(gt)"}
    if eval_crop is not None:
        info["eval_crop"] = eval_crop
    if kb_crop is not None:
        info["kb_crop"] = kb_crop
    return info


def read_prediction(pred_dir: str | Path, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """Saved prediction ``name`` (``.npy`` metres or ``.png`` uint16 metres * 256)."""
    from iid_rdepth_ros.datasets.io import read_depth_npy, read_depth_png

    base = Path(pred_dir) / name
    if base.with_suffix(".npy").is_file():
        pred = read_depth_npy(base.with_suffix(".npy"))
    elif base.with_suffix(".png").is_file():
        pred = read_depth_png(base.with_suffix(".png"), 256.0)
    else:
        raise FileNotFoundError(f"no prediction for frame {name} in {pred_dir} "
                                f"(expected {name}.npy or {name}.png)")
    if pred.shape != tuple(shape):
        raise ValueError(f"prediction {name} is {pred.shape[0]}x{pred.shape[1]}, its ground "
                         f"truth {shape[0]}x{shape[1]}")
    return pred


def predict_saved(pred_dir: str | Path, data: Any, progress: bool = True
                  ) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Yield ``(position, saved prediction, gt)`` per frame of ``data`` (a ``DepthFrames``)."""
    from iid_rdepth_ros.datasets.frames import eval_depth

    if not Path(pred_dir).is_dir():
        raise FileNotFoundError(f"predictions directory {pred_dir} does not exist")
    from tqdm import tqdm

    for position in tqdm(range(len(data)), desc="evaluate saved", unit="frame",
                         disable=not progress):
        gt = eval_depth(data.raw(position))
        yield position, read_prediction(pred_dir, data.name(position), gt.shape), gt


def set_threads(num_threads: int | None) -> None:
    """Limit torch's intra-op threads (None keeps torch's default)."""
    if num_threads is None:
        return
    if num_threads < 1:
        raise ValueError(f"num_threads must be >= 1, got {num_threads}")
    import torch

    torch.set_num_threads(int(num_threads))


def _save(pred_dir: Path | None, name: str, depth: np.ndarray) -> None:
    if pred_dir is not None:
        np.save(pred_dir / f"{name}.npy", np.asarray(depth, dtype=np.float32))


def evaluate(model_name_or_path: str | None, data_dir: str | Path, aux: bool | None,
             steps: int | None, batch_size: int = 4, num_threads: int | None = None,
             progress: bool = True, *, frames: int | None = None,
             min_depth: float | None = 1e-3, max_depth: float | None = 80.0,
             garg_crop: bool = False, per_frame: bool = True,
             device: str = "cpu", backend: str | None = None,
             engine_path: str | None = None, dataset: str = "synth", split: str | None = None,
             options: dict[str, Any] | None = None, predictions: str | Path | None = None,
             save_predictions: str | Path | None = None) -> dict[str, Any]:
    """Run a model over a data set and score it (see module docstring).

    ``dataset`` / ``split`` / ``options``: see ``open_frames`` (synth-street: ``data_dir`` is the
    directory). ``aux=None`` uses the auxiliary view where the data set has one; asking for it
    on a mono data set is a ValueError. ``min_depth`` / ``max_depth`` None: the data set's
    range; ``garg_crop`` is ``options["eval_crop"] = "garg"``. ``backend`` (``torch`` /
    ``onnxruntime`` / ``tensorrt``): predict through the deployment runtime
    (``predict_runner``) instead of calling the model directly. ``predictions``: score saved
    predictions instead of a model (``model_name_or_path`` None); ``save_predictions``: write
    the model's predictions there.

    Returns the ``METRIC_KEYS`` and ``frames`` at the top level, plus ``model``, ``aux``
    (requested), ``aux_engaged``, ``steps`` (effective T), ``data``, ``protocol``, ``timing``
    and, with ``per_frame``, a list of per-frame metrics.
    """
    from iid_rdepth_ros.datasets import get_dataset, resolve_crop

    spec = get_dataset(dataset)
    options = {k: v for k, v in (options or {}).items() if v is not None}
    if garg_crop:
        if options.get("eval_crop", "garg") not in ("garg", "auto"):
            raise ValueError(f"garg_crop contradicts eval_crop={options['eval_crop']!r}")
        options["eval_crop"] = "garg"
    crop = resolve_crop(dataset, options.get("eval_crop"))
    if dataset == "synth" and crop != "none":
        options["eval_crop"] = crop
    min_depth = spec.min_depth if min_depth is None else min_depth
    max_depth = spec.max_depth if max_depth is None else max_depth
    if aux and spec.stereo is False:
        raise ValueError(f"the {dataset} data set is mono only (no auxiliary right view): "
                         "evaluate it with --aux off")
    if (model_name_or_path is None) == (predictions is None):
        raise ValueError("give either a model or saved predictions (not both, not neither)")
    set_threads(num_threads)
    if not Path(data_dir).exists():
        raise FileNotFoundError(f"data directory {data_dir} does not exist")
    if predictions is not None:
        data = open_frames(data_dir, (32, 32), False, frames, dataset=dataset, split=split,
                           options=options)
        model = card = None
        mode = "saved predictions"
        pairs = predict_saved(predictions, data, progress)
    else:
        model, card = load_model(model_name_or_path, device)
        want_aux = spec.stereo is not False if aux is None else bool(aux)
        data = open_frames(data_dir, model.cfg.input_size, want_aux, frames, dataset=dataset,
                           split=split, options=options)
        if aux and not data.aux:
            raise ValueError(f"{data_dir} has no auxiliary (right) images: use --aux off")
        aux = data.aux
        mode = "stereo" if aux_engaged(model, aux) else "mono"
    acc = MetricAccumulator(min_depth, max_depth, False)
    timing: dict[str, float] = {}
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    if model is None:
        pass
    elif backend is None:
        pairs = predict(model, data, aux, steps, batch_size, progress,
                        desc=f"evaluate {mode}", timing=timing)
    else:
        pairs = predict_runner(backend, model_name_or_path, data, aux,
                               effective_steps(model, steps), model.cfg.input_size,
                               num_threads, progress, f"evaluate {mode} ({backend})",
                               timing, engine_path, device)
    save_dir = None
    if save_predictions is not None:
        save_dir = Path(save_predictions)
        save_dir.mkdir(parents=True, exist_ok=True)
    for pos, pred, gt in pairs:
        _save(save_dir, data.name(pos), pred)
        m = acc.update(pred, gt)
        if per_frame and m is not None:
            rows.append({"index": int(data.indices[pos]), "name": data.name(pos),
                         **{k: m[k] for k in METRIC_KEYS}})
    wall = time.perf_counter() - t0
    result: dict[str, Any] = acc.result()
    n = max(int(timing.get("frames", 0)), 1)
    result.update(
        model=(model_info(model, card, model_name_or_path) if model is not None
               else {"predictions": str(predictions)}),
        aux=bool(aux),
        aux_engaged=model is not None and aux_engaged(model, aux),
        steps=effective_steps(model, steps) if model is not None else None,
        data=data_info(data, data_dir, dataset),
        protocol=protocol_info(min_depth, max_depth, crop == "garg", crop,
                               options.get("kb_crop") if dataset == "kitti" else None),
        timing={"wall_s": round(wall, 3), "model_ms_per_frame":
                round(1000.0 * timing.get("model_s", 0.0) / n, 2),
                "batch_size": batch_size, "device": str(device),
                "backend": ("saved predictions" if model is None
                            else backend or "torch (direct)")},
    )
    if per_frame:
        result["per_frame"] = rows
    return result
