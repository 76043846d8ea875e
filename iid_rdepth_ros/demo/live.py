"""The demo's main job: a synth-street stereo bag replayed through the real node over DDS.

``run_live_demo`` writes the drive as a rosbag2 (``bag.synth_bag``), evaluates it offline with
the node's runtime (``bag.evaluate``), starts ``iid_rdepth_node`` as its own process, replays
the bag to it (``iid-rdepth replay``) while ``bag.live`` scores what the node publishes, and
compares both on the frames the node published. Everything lands under ``out_dir``::

    bag/            the rosbag2 (mcap)
    eval_offline/   eval-bag report of the runtime on every frame
    eval_live/      eval-bag --live report of the node (incl. dropped frames)
    node.log, replay.log
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from iid_rdepth_ros.bag.synth_bag import TOPICS

#: the node as deployed, except the depth range (opened so the protocol clips both the same)
NODE_PARAMS = {"aux_mode": "auto", "min_depth": 0.001, "max_depth": 1000.0,
               "publish_points": True, "points_stride": 1, "publish_colorized": True,
               "input_qos": "reliable", "output_qos": "reliable"}


def _spec() -> Any:
    from iid_rdepth_ros.bag.frames import TopicSpec

    return TopicSpec(image=TOPICS["left"], camera_info=TOPICS["left_info"],
                     aux_image=TOPICS["right"], aux_camera_info=TOPICS["right_info"],
                     gt_depth=TOPICS["depth"])


def ros_environment(domain_id: int | None) -> dict[str, str]:
    """ROS settings of the demo's processes: this machine only; a Fast DDS profile that lets
    large images through (unless the environment names one)."""
    from iid_rdepth_ros.ros.dds import DEFAULT_FASTDDS_PROFILE

    env = {"ROS_AUTOMATIC_DISCOVERY_RANGE": os.environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE",
                                                           "LOCALHOST"),
           "RMW_IMPLEMENTATION": os.environ.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")}
    if domain_id is not None:
        env["ROS_DOMAIN_ID"] = str(domain_id)
    profile = os.environ.get("FASTDDS_DEFAULT_PROFILES_FILE") or DEFAULT_FASTDDS_PROFILE
    if profile:
        env["FASTDDS_DEFAULT_PROFILES_FILE"] = str(profile)
    return env


def compare(offline: dict[str, Any], live: dict[str, Any]) -> dict[str, Any]:
    """Offline metrics on the frames the node published vs the node's, frame by frame."""
    from iid_rdepth_ros.evaluation.metrics import METRIC_KEYS, mean_metrics

    off = {r["index"]: r for r in offline["per_frame"] if "abs_rel" in r}
    on = {r["index"]: r for r in live["per_frame"] if "abs_rel" in r}
    common = sorted(set(off) & set(on))
    if not common:
        return {"frames": 0}
    same = mean_metrics([off[i] for i in common])
    rel = [abs(on[i]["abs_rel"] - off[i]["abs_rel"]) / max(off[i]["abs_rel"], 1e-9)
           for i in common]
    differing = [i for i, d in zip(common, rel, strict=True) if d > 1e-3]
    return {"frames": len(common), "offline_same_frames": same,
            "max_rel_diff_abs_rel": float(max(rel)),
            "frames_differing": differing,
            "rmse_diff": float(abs(mean_metrics([on[i] for i in common])["rmse"] - same["rmse"])),
            "metric_keys": list(METRIC_KEYS)}


def run_live_demo(out_dir: str | Path, frames: int, seed: int, model: str,
                  backend: str = "auto", rate: float = 1.0, steps: int | None = None,
                  threads: int | None = None, domain_id: int | None = None,
                  progress: bool = True) -> dict[str, Any]:
    """Bag -> offline evaluation -> node + replay + live evaluation (see module docstring)."""
    from iid_rdepth_ros.bag.evaluate import EvalOptions, evaluate_bag, input_size
    from iid_rdepth_ros.bag.live import LiveOptions, evaluate_live
    from iid_rdepth_ros.bag.report import write_report
    from iid_rdepth_ros.bag.synth_bag import write_synth_bag
    from iid_rdepth_ros.ros.node_process import NodeProcess

    out = Path(out_dir)
    t0 = time.perf_counter()
    hw = input_size(model, None)
    bag = write_synth_bag(out / "bag", frames, seed, height=hw[0], width=hw[1],
                          storage="mcap", progress=progress, overwrite=True)
    spec = _spec()
    opts = EvalOptions(backend=backend, model=model, steps=steps, threads=threads,
                       plot_frames=3, progress=progress)
    offline = evaluate_bag(bag.path, spec, opts)
    write_report(offline, out / "eval_offline", f"offline: runtime on all {frames} frames",
                 f"{offline['runner']['backend']} (offline)")

    env = ros_environment(domain_id)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # for this process's rclpy context and the replay it starts
    params = {**NODE_PARAMS, "backend": backend, "model_path": str(model),
              "input_height": hw[0], "input_width": hw[1], "diffusion_steps": steps or 0}
    remaps = {"image": spec.image, "camera_info": spec.camera_info,
              "aux/image": str(spec.aux_image), "aux/camera_info": str(spec.aux_camera_info)}
    node_env = {"OMP_NUM_THREADS": str(threads)} if threads else {}
    node = NodeProcess(out / "node.log", "demo", params, remaps, env=node_env)
    try:
        live_opts = LiveOptions(depth_topic="/demo/depth/image", play=True, rate=rate,
                                replay_qos="reliable", wait=180.0, settle=5.0,
                                replay_log=str(out / "replay.log"))
        try:
            live = evaluate_live(bag.path, spec, opts, live_opts)
        except ValueError as exc:
            tail = node.log()[-2000:] if node.log_path.is_file() else ""
            raise ValueError(f"live demo failed: {exc}; node log tail: {tail!r}") from exc
    finally:
        node.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    write_report(live, out / "eval_live", "live: iid_rdepth_node over DDS", "node (live)")
    return {"bag": {"path": str(bag.path), "storage": bag.storage, "frames": bag.frames,
                    "topics": bag.topics, "height": bag.height, "width": bag.width},
            "offline": offline, "live": live, "comparison": compare(offline, live),
            "node": {"command": " ".join(node.command), "params": params, "remaps": remaps,
                     "namespace": "/demo", "log": str(out / "node.log")},
            "environment": env, "rate": rate,
            "seconds": round(time.perf_counter() - t0, 1)}
