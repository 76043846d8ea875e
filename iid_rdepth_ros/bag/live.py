"""Live rosbag evaluation: score what a running ``iid_rdepth_node`` publishes while the bag
is replayed (``ros2 bag play`` or ``iid-rdepth replay``).

The evaluator reads the ground truth of every frame from the bag beforehand (same pairing and
LiDAR projection as offline), then subscribes to the node's ``depth/image`` and to the replayed
main image topic. Per frame (matched by header stamp, which the node copies from its input):

- depth received -> scored exactly like the offline evaluation;
- no depth -> **dropped** (the node skipped it, e.g. latest-frame-wins while busy, or lost);
- latency = arrival of ``depth/image`` - arrival of the input image, both seen here (so it
  includes DDS transport of the image to the node and of the depth back).

With ``play`` the evaluator starts ``iid-rdepth replay`` itself once the node is up; otherwise
it waits for someone to play the bag. The node's ``/diagnostics`` (its own dropped count) are
recorded alongside.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class LiveOptions:
    """How to watch the node."""

    depth_topic: str = "depth/image"
    play: bool = False
    rate: float = 1.0
    replay_qos: str = "reliable"
    wait: float = 60.0  # s for the node to appear / the first frame to arrive
    settle: float = 5.0  # s to wait for outputs after the last input
    replay_log: str | None = None
    extra_replay_args: list[str] = field(default_factory=list)


@dataclass
class _Expected:
    index: int
    gt: np.ndarray
    hw: tuple[int, int]
    intrinsics: Any
    image: np.ndarray | None = None  # kept for figures only


def expected_frames(bag_path: str | Path, spec: Any, opts: Any, plot: set[int]
                    ) -> tuple[dict[int, _Expected], dict[str, Any], Any, str]:
    """Ground truth of every paired frame, by stamp; plus bag info, pairing stats, gt text."""
    from iid_rdepth_ros.bag.evaluate import bag_info, gt_description
    from iid_rdepth_ros.bag.frames import (
        FramePairer,
        camera_model,
        decode_rgb,
        ground_truth,
        iter_frames,
        read_transforms,
    )
    from iid_rdepth_ros.bag.io import open_bag

    out: dict[int, _Expected] = {}
    with open_bag(bag_path) as bag:
        spec.check(bag)
        tree = read_transforms(bag, spec) if spec.gt_points else None
        pairer = FramePairer(spec, opts.tolerance, opts.gt_tolerance)
        camera_frame = ""
        for frame in iter_frames(bag, spec, pairer):
            if opts.max_frames and frame.index >= opts.max_frames:
                break
            hw = (int(frame.image.height), int(frame.image.width))
            intrinsics, _ = camera_model(frame.info, hw)
            camera_frame = camera_frame or frame.image.header.frame_id
            out[frame.stamp] = _Expected(frame.index, ground_truth(frame, hw, tree), hw,
                                         intrinsics,
                                         decode_rgb(frame.image) if frame.index in plot else None)
        info = bag_info(bag, spec)
        info["images"] = bag.counts[spec.image]
        return out, info, pairer.stats, gt_description(spec, tree, camera_frame)


def _wait(predicate: Any, timeout: float, period: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(period)
    return bool(predicate())


def _start_replay(bag_path: str | Path, spec: Any, live: LiveOptions) -> subprocess.Popen:
    from iid_rdepth_ros.artifacts.python_cmd import child_env, python_module_command

    args = python_module_command(
        "iid_rdepth_ros.cli.main", "replay", str(bag_path), "--rate", str(live.rate), "--qos",
        live.replay_qos, "--no-progress", "--wait-for", f"{spec.image}=2", "--delay", "0.5")
    if spec.aux_image:
        args += ["--wait-for", spec.aux_image]
    args += live.extra_replay_args
    log = open(live.replay_log, "w") if live.replay_log else subprocess.DEVNULL  # noqa: SIM115
    return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=child_env())


def evaluate_live(bag_path: str | Path, spec: Any, opts: Any, live: LiveOptions,
                  context: Any = None) -> dict[str, Any]:
    """Watch the node while the bag plays; the result dict of ``report.write_report``."""
    import rclpy

    from iid_rdepth_ros.bag.frames import decode_depth
    from iid_rdepth_ros.bag.messages import deserialize
    from iid_rdepth_ros.bag.scoring import latency_stats, overall, sample_indices, score
    from iid_rdepth_ros.evaluation.metrics import MetricAccumulator
    from iid_rdepth_ros.ros.driver import NodeDriver

    spec.validate()
    total_hint = opts.max_frames or 10**9
    t_start = time.perf_counter()
    # which frames get figures: decided on the bag's image count
    from iid_rdepth_ros.bag.io import open_bag

    with open_bag(bag_path) as bag:
        spec.check(bag)
        n_images = min(bag.counts[spec.image], total_hint)
    plot = set(sample_indices(n_images, opts.plot_frames))
    expected, info, pair_stats, gt_text = expected_frames(bag_path, spec, opts, plot)
    if not expected:
        raise ValueError(f"{bag_path}: no frame of the bag pairs with ground truth "
                         f"({pair_stats.as_dict()})")
    own = context is None
    if own:
        context = rclpy.Context()
        rclpy.init(context=context)
    # the driver sits in the root namespace: a relative depth topic resolves under "/"
    depth_topic = "/" + live.depth_topic.lstrip("/")
    prefix = depth_topic.rsplit("/depth/", 1)[0] + "/"  # the node's diagnostics name
    watcher = NodeDriver(context, outputs=("depth",), publish=False, watch_image=spec.image,
                         raw=True, keep=10**9, name=f"iid_rdepth_eval_live_{os.getpid()}",
                         output_topics={"depth": depth_topic},
                         diag_filter=lambda n: n.endswith(": depth") and n.startswith(prefix))
    inputs, depth = watcher.records["input"], watcher.records["depth"]

    def last_time(key: str) -> float:
        latest = watcher.latest(key)
        return latest[0] if latest else 0.0
    replay = None
    try:
        if not _wait(watcher.node_ready, live.wait):
            raise ValueError(f"no node publishing {depth_topic} and subscribed to "
                             f"{spec.image} within {live.wait:g} s (is iid_rdepth_node running "
                             "with the same ROS_DOMAIN_ID and remapped to the bag's topics?)")
        if live.play:
            replay = _start_replay(bag_path, spec, live)
        last = max(expected)
        if not _wait(lambda: bool(inputs) or (replay is not None
                                                     and replay.poll() not in (None, 0)),
                     live.wait):
            raise ValueError(f"no image arrived on {spec.image} within {live.wait:g} s "
                             "(play the bag: ros2 bag play / iid-rdepth replay)")
        if replay is not None and replay.poll() not in (None, 0):
            raise ValueError(f"the replay failed (exit {replay.returncode}); see "
                             f"{live.replay_log or 'its output'}")

        def finished() -> bool:
            with watcher.lock:
                quiet = time.time() - last_time("input")
                done_in = last in inputs or (replay is not None and replay.poll() is not None)
                all_out = all(s in depth for s in expected)
            return all_out or (done_in and quiet > live.settle) or quiet > live.wait

        _wait(finished, 24 * 3600.0, period=0.1)
        if replay is not None:
            replay.wait(30)
        # the node's diagnostics (1 Hz) from after its last output
        _wait(lambda: watcher.latest_diagnostics(after=last_time("depth") + 0.05) is not None,
              2.5)
    finally:
        if replay is not None and replay.poll() is None:
            replay.terminate()
            replay.wait(10)
        watcher.close()
        if own:
            rclpy.try_shutdown(context=context)

    acc = MetricAccumulator(opts.min_depth, opts.max_depth, opts.garg_crop)
    rows: list[dict[str, Any]] = []
    samples: dict[int, dict[str, Any]] = {}
    dropped: list[int] = []
    first = min(expected)
    network_hw = None
    for stamp in sorted(expected):
        exp = expected[stamp]
        got = depth.get(stamp)
        t_in = inputs[stamp][0] if stamp in inputs else None
        if got is None:
            dropped.append(exp.index)
            continue
        msg = deserialize(got[1], "sensor_msgs/msg/Image")
        pred = decode_depth(msg)
        pred[pred == 0] = np.nan
        network_hw = network_hw or list(pred.shape)
        m = score(acc, pred, exp.gt)
        rows.append({"index": exp.index, "stamp_ns": stamp, "t_s": round((stamp - first) / 1e9, 4),
                     "latency_ms": None if t_in is None else round(1000 * (got[0] - t_in), 3),
                     **(m or {"skipped": "no valid ground truth"})})
        if exp.image is not None:
            samples[exp.index] = {"image": exp.image, "gt": exp.gt, "pred": pred,
                                  "intrinsics": exp.intrinsics}
    if not acc.frames:
        raise ValueError(f"the node published no depth for any of the {len(expected)} frames "
                         f"on {depth_topic}")
    status = watcher.latest_diagnostics()
    diag = {kv.key: kv.value for kv in status[1].values} if status else {}
    return {
        "mode": "live",
        "bag": info,
        "ground_truth": gt_text,
        "runner": {"backend": diag.get("backend"), "model_path": diag.get("model"),
                   "network_hw": diag.get("network size"),
                   "diffusion_steps": diag.get("diffusion steps"),
                   "depth_topic": depth_topic, "depth_image_hw": network_hw},
        "protocol": {"min_depth": opts.min_depth, "max_depth": opts.max_depth,
                     "garg_crop": opts.garg_crop, "median_scaling": False,
                     "aggregation": "mean of per-frame metrics",
                     "missing_prediction": "left out (the node's NaN), reported as coverage"},
        "metrics": overall(acc, [r for r in rows if "abs_rel" in r]),
        "latency": latency_stats([r["latency_ms"] for r in rows]),
        "latency_definition": "depth/image arrival - input image arrival, both at the evaluator "
                              "(includes DDS transport both ways)",
        "pairing": pair_stats.as_dict(),
        "frames": {"images": info["images"], "expected": len(expected),
                   "evaluated": acc.frames, "dropped": len(dropped),
                   "dropped_indices": dropped,
                   "input_seen": sum(1 for s in expected if s in inputs)},
        "node_diagnostics": diag,
        "per_frame": rows,
        "wall_s": round(time.perf_counter() - t_start, 2),
        "samples": samples,
    }
