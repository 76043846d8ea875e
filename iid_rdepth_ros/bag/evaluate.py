"""Offline rosbag evaluation: the recorded frames through the node's runtime, scored.

``evaluate_bag`` reads a bag (sqlite3 or mcap), pairs frames by stamp (``frames``), runs every
frame through ``export.open_runner`` exactly as ``iid_rdepth_node`` does (same decoding of
Image/CameraInfo, same pre/post-processing), and scores it against the depth-image or projected
LiDAR ground truth (``scoring``). The runner's depth range is opened wide, as in
``bench.evaluate``; the protocol range applies in the metrics.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class EvalOptions:
    """What to run and how to score (mirrors the ``eval-bag`` options)."""

    backend: str = "auto"
    model: str = "default"
    engine: str | None = None
    input_size: tuple[int, int] | None = None  # pixel budget; None: the checkpoint's
    steps: int | None = None
    threads: int | None = None
    device: str = "cpu"
    min_depth: float = 1e-3
    max_depth: float = 80.0
    garg_crop: bool = False
    tolerance: float = 0.005
    gt_tolerance: float = 0.05
    max_frames: int | None = None
    plot_frames: int = 3
    progress: bool = True
    window: Any = None  # frames.TimeWindow: only frames stamped inside it (None: all)
    first_stamp_ns: int | None = None  # the bag's first image stamp the window was made for


def input_size(model: str, override: tuple[int, int] | None) -> tuple[int, int]:
    """Network input pixel budget: ``override``, else the checkpoint's preset size, else
    192x640 (each camera runs at the size ``runtime.network_size`` picks within it; an .onnx
    graph at its own size)."""
    if override is not None:
        return override
    if str(model).endswith(".onnx"):
        return (192, 640)
    from iid_rdepth_ros.model.checkpoint import checkpoint_config

    return tuple(checkpoint_config(model).input_size)  # type: ignore[return-value]


def make_runner(opts: EvalOptions) -> Any:
    """A loaded ``CameraRunner`` for ``opts``, as the node opens it: the network input
    follows each camera's aspect (RunnerError -> ValueError naming the model)."""
    from iid_rdepth_ros.artifacts.errors import RunnerError
    from iid_rdepth_ros.export.open_runner import CameraRunner
    from iid_rdepth_ros.runtime import RunnerConfig

    hw = input_size(opts.model, opts.input_size)
    tiny, huge = float(np.finfo(np.float32).tiny), float(np.finfo(np.float32).max)
    config = RunnerConfig(backend=opts.backend, model_path=str(opts.model),  # type: ignore
                          engine_path=opts.engine, input_height=hw[0], input_width=hw[1],
                          diffusion_steps=opts.steps, min_depth=tiny, max_depth=huge,
                          device=opts.device, num_threads=opts.threads)
    cameras = CameraRunner(config)
    try:
        cameras.load()
    except RunnerError as exc:
        cameras.close()
        raise ValueError(f"cannot load model {opts.model!r}: {exc}") from exc
    return cameras


def bag_info(bag: Any, spec: Any) -> dict[str, Any]:
    """Path, duration and the topics used."""
    return {"path": str(bag.path), "duration_s": round(bag.duration_s, 3),
            "topics": {k: v for k, v in asdict(spec).items() if v},
            "messages": {t: c for t, c in bag.counts.items() if t in asdict(spec).values()}}


def gt_description(spec: Any, tree: Any = None, camera_frame: str = "") -> str:
    """Where the ground truth came from, in words."""
    if spec.gt_depth:
        return f"depth image {spec.gt_depth} (0/NaN = none)"
    chain = ""
    if tree is not None and tree.frames:
        chain = f"; /tf_static frames: {', '.join(tree.frames)}"
    tf = ""
    if tree is not None and getattr(tree, "has_dynamic", False):
        tf = (f" and {spec.tf} (where {spec.tf_static} does not link the frames; evaluated at "
              "the image stamp, no ego-motion compensation)")
    return (f"LiDAR {spec.gt_points} projected into {camera_frame or 'the camera'} with "
            f"CameraInfo P and {spec.tf_static}{tf}{chain}")


def check_first_stamp(pairer: Any, opts: Any, bag_path: Any) -> None:
    """ValueError when the window was made for another bag (its first image stamp differs)."""
    want = getattr(opts, "first_stamp_ns", None)
    if want is not None and pairer.first_stamp is not None and pairer.first_stamp != want:
        raise ValueError(f"{bag_path}: its first image is stamped {pairer.first_stamp} ns, the "
                         f"held-out window was made for a bag whose first image is stamped "
                         f"{want} ns (another bag or image topic?)")


def evaluate_bag(bag_path: str | Path, spec: Any, opts: EvalOptions) -> dict[str, Any]:
    """Evaluate ``opts.model`` on the bag's frames; the result dict of ``report.write_report``
    plus ``samples`` (image, gt, prediction of a few frames, for the figures)."""
    from iid_rdepth_ros.bag.frames import (
        FramePairer,
        camera_model,
        decode_rgb,
        ground_truth,
        iter_frames,
        read_transforms,
    )
    from iid_rdepth_ros.bag.io import open_bag
    from iid_rdepth_ros.bag.scoring import latency_stats, overall, sample_indices, score
    from iid_rdepth_ros.bag.transforms import TransformTimeError
    from iid_rdepth_ros.evaluation.metrics import MetricAccumulator
    from iid_rdepth_ros.ros.camera_info import (
        CameraInfoError,
        baseline_from_info,
        intrinsics_from_info,
    )

    spec.validate()
    rows: list[dict[str, Any]] = []
    samples: dict[int, dict[str, Any]] = {}
    acc = MetricAccumulator(opts.min_depth, opts.max_depth, opts.garg_crop)
    t_start = time.perf_counter()
    with open_bag(bag_path) as bag:
        spec.check(bag)
        tree = read_transforms(bag, spec) if spec.gt_points else None
        n_images = bag.counts[spec.image]
        total = min(n_images, opts.max_frames or n_images)
        window = opts.window
        windowed = window is not None and window.active
        wanted = set() if windowed else set(sample_indices(total, opts.plot_frames))
        pairer = FramePairer(spec, opts.tolerance, opts.gt_tolerance)
        cameras = make_runner(opts)
        runner = cameras.runner
        bar = None
        if opts.progress:
            from tqdm import tqdm

            bar = tqdm(total=total, desc="eval-bag", unit="frame")
        camera_frame = ""
        first_stamp = None
        try:
            for frame in iter_frames(bag, spec, pairer):
                if opts.max_frames and frame.index >= opts.max_frames:
                    break
                check_first_stamp(pairer, opts, bag_path)
                if windowed and not window.contains(frame.stamp, pairer.first_stamp):
                    if bar is not None:
                        bar.update(1)
                    continue
                if windowed and len(wanted) < opts.plot_frames:
                    wanted.add(frame.index)  # the window's first frames get the figures
                rgb = decode_rgb(frame.image)
                hw = rgb.shape[:2]
                runner = cameras.for_camera(hw)
                intrinsics, _ = camera_model(frame.info, hw)
                aux = baseline = aux_intrinsics = None
                if frame.aux is not None and runner.has_stereo:
                    try:
                        baseline = baseline_from_info(frame.aux_info)
                        aux = decode_rgb(frame.aux)
                        aux_intrinsics = intrinsics_from_info(frame.aux_info, aux.shape[:2])
                    except CameraInfoError:
                        aux = baseline = aux_intrinsics = None
                try:
                    gt = ground_truth(frame, hw, tree)
                except TransformTimeError as exc:  # /tf does not cover this stamp
                    rows.append({"index": frame.index, "stamp_ns": frame.stamp,
                                 "skipped": f"no ground truth: {exc}"})
                    continue
                camera_frame = camera_frame or frame.image.header.frame_id
                t0 = time.perf_counter()
                pred = runner.infer(rgb, aux=aux, intrinsics=intrinsics, baseline_m=baseline,
                                    aux_intrinsics=aux_intrinsics)
                latency = 1000.0 * (time.perf_counter() - t0)
                first_stamp = frame.stamp if first_stamp is None else first_stamp
                m = score(acc, pred, gt)
                rows.append({"index": frame.index, "stamp_ns": frame.stamp,
                             "t_s": round((frame.stamp - first_stamp) / 1e9, 4),
                             "stereo": aux is not None, "latency_ms": round(latency, 3),
                             **(m or {"skipped": "no valid ground truth"})})
                if frame.index in wanted:
                    samples[frame.index] = {"image": rgb, "gt": gt, "pred": pred,
                                            "intrinsics": intrinsics}
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
            info = dict(runner.info)
            cameras.close()
        if not acc.frames:
            raise ValueError(f"{bag_path}: no frame could be scored (pairing: "
                             f"{pairer.stats.as_dict()})")
        result: dict[str, Any] = {
            "mode": "offline",
            "bag": bag_info(bag, spec),
            "ground_truth": gt_description(spec, tree, camera_frame),
            "runner": {k: info.get(k) for k in ("backend", "model_path", "network_hw",
                                                 "diffusion_steps", "canonical_focal",
                                                 "stereo_capable")},
            "protocol": {"min_depth": opts.min_depth, "max_depth": opts.max_depth,
                         "garg_crop": opts.garg_crop, "median_scaling": False,
                         "aggregation": "mean of per-frame metrics",
                         "missing_prediction": "left out, reported as coverage"},
            "metrics": overall(acc, [r for r in rows if "abs_rel" in r]),
            "latency": latency_stats([r["latency_ms"] for r in rows if "latency_ms" in r]),
            "latency_definition": "runner.infer wall time per frame (decode/pairing excluded)",
            "pairing": pairer.stats.as_dict(),
            "frames": {"images": n_images, "evaluated": acc.frames,
                       "stereo": sum(1 for r in rows if r.get("stereo"))},
            "window": None if not windowed else {
                "start_s": None if window.start_ns is None else window.start_ns / 1e9,
                "end_s": None if window.end_ns is None else window.end_ns / 1e9,
                "first_image_stamp_ns": pairer.first_stamp, "rule": window.describe()},
            "per_frame": rows,
            "wall_s": round(time.perf_counter() - t_start, 2),
            "samples": samples,
        }
    return result
