"""Node overhead benchmark: end-to-end latency through ``iid_rdepth_node`` over real DDS vs the
runner alone, on the same frames in one run, plus the time to build each output message.

End-to-end = image published by this process -> ``depth/image`` received by this process (the
node runs in its own process, frames are sent one at a time so nothing queues). It is compared
with the runner alone on the same frames: ``Runner.infer`` in this process while the node is
idle, with the node's runner settings (the primary ratio, target <= 1.10); for onnxruntime also
with intra-op spin-waiting on (onnxruntime's default, its fastest standalone setting, which the
node turns off because its process shares the cores with DDS); and ``Runner.infer`` inside the
node (its diagnostics). Message building = the node's ``OutputBuilder`` (depth image,
camera_info, colorized image, organised cloud) timed here on the runner's depth of each frame,
and the node's own per-stage timings.

Entry points: :func:`run_node_bench` (for ``iid-rdepth bench``), :func:`to_markdown`, and
``python -m iid_rdepth_ros.bench.node --help``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from iid_rdepth_ros.ros.dds import DEFAULT_FASTDDS_PROFILE

#: end-to-end / runner-only median latency the node should stay within
TARGET_RATIO = 1.10


@dataclass
class NodeBenchOptions:
    """What to measure. ``data``: a synth-street directory (else procedural frames)."""

    model: str = "default"
    backend: str = "torch"
    input_hw: tuple[int, int] = (192, 640)  # pixel budget; the camera's aspect is kept
    camera_hw: tuple[int, int] = (375, 1242)
    frames: int = 30
    warmup: int = 3
    stereo: bool = False
    threads: int = 1
    diffusion_steps: int | None = None
    publish_points: bool = True
    publish_colorized: bool = True
    data: str | None = None
    domain_id: int = 77
    #: reliable by default: with Fast DDS's default 512 KB shared-memory segments, best-effort
    #: images larger than that (e.g. 1242x375 rgb8) are mostly lost between processes
    input_qos: str = "reliable"
    #: Fast DDS profile for both processes (as the launch files give the node); "" = none
    fastdds_profile: str = field(default_factory=lambda: str(DEFAULT_FASTDDS_PROFILE))
    startup_timeout_s: float = 600.0
    extra_params: dict[str, Any] = field(default_factory=dict)


def _percentiles_ms(values: list[float]) -> dict[str, float]:
    arr = np.asarray(values, dtype=np.float64) * 1e3
    if arr.size == 0:
        return {"p50": float("nan"), "p95": float("nan"), "mean": float("nan"), "n": 0}
    return {"p50": float(np.percentile(arr, 50)), "p95": float(np.percentile(arr, 95)),
            "mean": float(arr.mean()), "n": int(arr.size)}


def _frames(opts: NodeBenchOptions) -> list[Any]:
    from iid_rdepth_ros.bench.frames import Frame, procedural_frame, synth_frames
    from iid_rdepth_ros.geometry.camera import scale_intrinsics
    from iid_rdepth_ros.runtime.processing import resize_image

    count = opts.frames + opts.warmup
    if opts.data:
        frames = synth_frames(opts.data, count, stereo=opts.stereo)
        if not frames:
            raise ValueError(f"no frames in {opts.data}")
        frames = (frames * (count // len(frames) + 1))[:count]
    else:
        frames = [procedural_frame(*opts.camera_hw, seed=i, stereo=opts.stereo)
                  for i in range(count)]
    out = []
    for f in frames:  # bring every frame to the camera size asked for
        hw = f.image.shape[:2]
        if hw == tuple(opts.camera_hw):
            out.append(f)
            continue
        out.append(Frame(image=resize_image(f.image, opts.camera_hw),
                         intrinsics=scale_intrinsics(f.intrinsics, hw, opts.camera_hw),
                         aux=None if f.aux is None else resize_image(f.aux, opts.camera_hw),
                         baseline_m=f.baseline_m))
    return out


def _start_node(opts: NodeBenchOptions, namespace: str, log_path: Path) -> Any:
    """The node under test in its own process (``bag.node_process.NodeProcess``)."""
    from iid_rdepth_ros.ros.node_process import NodeProcess

    params: dict[str, Any] = {
        "backend": opts.backend, "model_path": opts.model,
        "input_height": opts.input_hw[0], "input_width": opts.input_hw[1],
        "aux_mode": "auto" if opts.stereo else "off",
        "publish_points": opts.publish_points, "publish_colorized": opts.publish_colorized,
        "diffusion_steps": opts.diffusion_steps or 0, "sync_tolerance": 0.001,
        "input_qos": opts.input_qos,
        **opts.extra_params,
    }
    env = {"ROS_DOMAIN_ID": str(opts.domain_id), "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
           "RMW_IMPLEMENTATION": os.environ.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp"),
           "OMP_NUM_THREADS": str(opts.threads)}
    return NodeProcess(log_path, namespace, params, env=env)


def _time_messages(builder: Any, depth: np.ndarray, frame: Any, settings: dict[str, Any]
                   ) -> dict[str, float]:
    """Seconds to build each output message from one depth map, with the node's own
    :class:`~iid_rdepth_ros.ros.outputs.OutputBuilder`."""
    from sensor_msgs.msg import CameraInfo
    from std_msgs.msg import Header

    header = Header(frame_id="camera")
    info = CameraInfo(height=frame.image.shape[0], width=frame.image.shape[1])
    hw = frame.image.shape[:2]
    t0 = time.perf_counter()
    builder.depth(depth, header)
    t1 = time.perf_counter()
    builder.camera_info(info, frame.intrinsics, depth.shape, hw)
    t2 = time.perf_counter()
    builder.colorized(depth, header, settings["min_depth"], settings["max_depth"],
                      settings["colormap"])
    t3 = time.perf_counter()
    builder.points(depth, frame.intrinsics, hw, header, 1, frame.image)
    t4 = time.perf_counter()
    return {"depth_image": t1 - t0, "camera_info": t2 - t1, "colorized": t3 - t2,
            "cloud": t4 - t3}


def run_node_bench(opts: NodeBenchOptions, log_dir: str | Path | None = None,
                   progress: bool = False) -> dict[str, Any]:
    """Run the benchmark; returns a JSON-able dict (see module docstring)."""
    import rclpy

    from iid_rdepth_ros.export.open_runner import CameraRunner
    from iid_rdepth_ros.ros.driver import NodeDriver, frame_messages, time_msg
    from iid_rdepth_ros.ros.outputs import OutputBuilder
    from iid_rdepth_ros.ros.process_settings import keep_large_buffers
    from iid_rdepth_ros.runtime import RunnerConfig

    # the node's process raises glibc's malloc thresholds (ros/process_settings.py); so does
    # this one, or the runner alone here and the receipt of depth would pay page faults the node
    # does not
    allocator = keep_large_buffers()
    frames = _frames(opts)
    namespace = f"bench_{os.getpid()}"
    log_dir = Path(log_dir) if log_dir else Path(tempfile.mkdtemp(prefix="iid_rdepth_bench_"))
    log_dir.mkdir(parents=True, exist_ok=True)
    saved_env = {k: os.environ.get(k) for k in ("ROS_DOMAIN_ID",
                                                "ROS_AUTOMATIC_DISCOVERY_RANGE",
                                                "FASTDDS_DEFAULT_PROFILES_FILE")}
    os.environ.update(ROS_DOMAIN_ID=str(opts.domain_id),
                      ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    if opts.fastdds_profile and "FASTDDS_DEFAULT_PROFILES_FILE" not in os.environ:
        os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] = str(opts.fastdds_profile)
    profile_used = os.environ.get("FASTDDS_DEFAULT_PROFILES_FILE", "")
    node_proc = _start_node(opts, namespace, log_dir / "node.log")
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=opts.domain_id)
    runner = spin_runner = driver = None
    # the last message the node publishes per frame: when it is here, the node is idle
    last = "points" if opts.publish_points else "colorized" if opts.publish_colorized else None
    try:
        driver = NodeDriver(context, namespace, outputs=("depth",) + ((last,) if last else ()),
                            input_qos=opts.input_qos, raw=True,
                            name=f"bench_client_{os.getpid()}")
        deadline = time.monotonic() + opts.startup_timeout_s
        while not driver.node_ready():
            if node_proc.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the node did not start; its log:\n"
                                   + node_proc.log_path.read_text()[-3000:])
            time.sleep(0.1)

        def make_runner(spin_wait: bool) -> Any:
            # the network size the node picks for this camera (export.open_runner)
            cameras = CameraRunner(RunnerConfig(
                backend=opts.backend, model_path=opts.model, input_height=opts.input_hw[0],
                input_width=opts.input_hw[1], diffusion_steps=opts.diffusion_steps,
                num_threads=opts.threads, spin_wait=spin_wait))
            return cameras.for_camera(tuple(opts.camera_hw))

        runner = make_runner(spin_wait=False)  # what the node runs (node.py)
        settings = {"min_depth": 0.5, "max_depth": 80.0, "colormap": "magma"}
        builder = OutputBuilder()
        e2e: list[float] = []
        runner_only: list[float] = []
        runner_spin: list[float] = []
        build: dict[str, list[float]] = {}
        missed = 0
        iterator: Any = range(len(frames))
        if progress:
            from tqdm import tqdm

            iterator = tqdm(iterator, desc="node bench", unit="frame")
        for i in iterator:
            frame = frames[i]
            # 1) through the node
            stamp = time_msg()
            messages = frame_messages(frame.image, frame.intrinsics, stamp, "camera_optical",
                                      frame.aux, frame.baseline_m)
            sent = time.time()
            key = driver.publish(messages)
            got = (driver.get("depth", key)
                   if driver.wait_for(lambda k=key: driver.get("depth", k) is not None, 5.0)
                   else None)
            if got is None:
                missed += 1
            elif i >= opts.warmup:
                e2e.append(got[0] - sent)
            # let the node finish its colormap and cloud before timing the runner alone
            if last:
                driver.wait_for(lambda k=key: driver.get(last, k) is not None, 5.0)
            time.sleep(0.01)
            # 2) the runner alone, same frame, same backend and threads
            with driver.paused():  # no ROS work in this process while the runner is timed
                t0 = time.perf_counter()
                depth = runner.infer(frame.image, frame.aux, frame.intrinsics, frame.baseline_m)
                t1 = time.perf_counter()
            if i >= opts.warmup:
                runner_only.append(t1 - t0)
                for name, seconds in _time_messages(builder, depth, frame, settings).items():
                    build.setdefault(name, []).append(seconds)
        if runner.backend == "onnxruntime":
            spin_runner = make_runner(spin_wait=True)
            # a separate pass after the node's frames: spinning threads would slow what runs
            # beside them
            with driver.paused():
                for i, frame in enumerate(frames):
                    t0 = time.perf_counter()
                    spin_runner.infer(frame.image, frame.aux, frame.intrinsics,
                                      frame.baseline_m)
                    if i >= opts.warmup:
                        runner_spin.append(time.perf_counter() - t0)
        # the node's own timing of the same frames (runner.infer inside the node process)
        in_node = driver.wait_diagnostics(3.0)
    finally:
        if driver is not None:
            driver.close()
        for made in (runner, spin_runner):
            if made is not None:
                made.close()
        rclpy.try_shutdown(context=context)
        node_proc.stop()
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    e2e_ms, runner_ms = _percentiles_ms(e2e), _percentiles_ms(runner_only)
    ratio = e2e_ms["p50"] / runner_ms["p50"] if runner_ms["p50"] > 0 else float("nan")
    node_infer = float(in_node.get("infer p50 ms", "nan"))
    in_node_ratio = e2e_ms["p50"] / node_infer if node_infer > 0 else float("nan")
    spin_ms = _percentiles_ms(runner_spin) if runner_spin else None
    build_ms = {name: _percentiles_ms(v) for name, v in build.items()}
    return {
        "options": {**asdict(opts), "input_hw": list(opts.input_hw),
                    "camera_hw": list(opts.camera_hw)},
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or
                    platform.machine(), "cores": os.cpu_count()},
        "backend": runner.backend if runner is not None else opts.backend,
        "network_hw": list(runner.network_hw) if runner is not None else None,
        "end_to_end_ms": e2e_ms,
        "runner_only_ms": runner_ms,
        "ratio_p50": ratio,
        "runner_only_spin_wait_ms": spin_ms,
        "ratio_vs_spin_wait_p50": e2e_ms["p50"] / spin_ms["p50"] if spin_ms else None,
        "node_stages_p50_ms": {k[:-len(" p50 ms")]: float(v) for k, v in in_node.items()
                               if k.endswith(" p50 ms")},
        "ratio_vs_in_node_infer_p50": in_node_ratio,
        "target_ratio": TARGET_RATIO,
        # primary: the runner alone with the node's settings, same frames, one run
        # carries the difference between two processes' CPU shares (noisy on shared cores)
        "meets_target": bool(ratio <= TARGET_RATIO),
        "fastdds_profile": profile_used,
        "allocator": allocator,
        "overhead_p50_ms": e2e_ms["p50"] - runner_ms["p50"],
        "overhead_vs_in_node_infer_p50_ms": e2e_ms["p50"] - node_infer,
        "message_build_ms": build_ms,
        "message_build_total_p50_ms": float(sum(v["p50"] for v in build_ms.values())),
        "missed_frames": missed,
        "node_log": str(node_proc.log_path),
    }


def _wxh(hw: Any) -> str:
    return f"{hw[1]}x{hw[0]}" if hw else "?"


def to_markdown(result: dict[str, Any], command: str | None = None) -> str:
    """Readable summary table of :func:`run_node_bench`'s result."""
    o = result["options"]
    lines = [
        "# Node overhead: end-to-end over DDS vs runner alone",
        "",
        f"backend {result['backend']}, network {_wxh(result.get('network_hw'))} (pixel budget "
        f"{o['input_hw'][1]}x{o['input_hw'][0]}, camera aspect kept), camera "
        f"{o['camera_hw'][1]}x{o['camera_hw'][0]}, {'stereo' if o['stereo'] else 'mono'}, "
        f"{o['threads']} thread(s), input QoS {o['input_qos']}, Fast DDS profile "
        f"{Path(result['fastdds_profile']).name if result['fastdds_profile'] else 'default'}, "
        f"{result['end_to_end_ms']['n']} frames "
        f"({result['machine']['cores']} cores)",
        "",
        f"Both processes: {result.get('allocator', 'glibc malloc defaults')}.",
        "",
        "| measure | p50 ms | p95 ms | mean ms |",
        "|---|---:|---:|---:|",
    ]
    for label, key in (("end to end (publish image -> receive depth)", "end_to_end_ms"),
                       ("runner only (`Runner.infer`, the node's settings)", "runner_only_ms"),
                       ("runner only, onnxruntime spin-wait on", "runner_only_spin_wait_ms")):
        v = result.get(key)
        if v is None:
            continue
        lines.append(f"| {label} | {v['p50']:.1f} | {v['p95']:.1f} | {v['mean']:.1f} |")
    for name, v in result["message_build_ms"].items():
        lines.append(f"| build {name} message | {v['p50']:.2f} | {v['p95']:.2f} | "
                     f"{v['mean']:.2f} |")
    stages = result.get("node_stages_p50_ms", {})
    if stages:
        lines += ["", "Inside the node (p50 ms over the same frames): " + ", ".join(
            f"{k} {v:.2f}" for k, v in stages.items() if v == v)]
    verdict = "meets" if result["meets_target"] else "MISSES"
    lines += ["", f"End-to-end / runner-only (p50): **{result['ratio_p50']:.3f}** (overhead "
              f"{result['overhead_p50_ms']:.1f} ms). Target <= {result['target_ratio']:.2f}: "
              f"{verdict}. End-to-end / `Runner.infer` inside the node: "
              f"{result['ratio_vs_in_node_infer_p50']:.3f} (overhead "
              f"{result['overhead_vs_in_node_infer_p50_ms']:.1f} ms)."]
    if result.get("ratio_vs_spin_wait_p50"):
        lines.append(f"End-to-end / runner-only with onnxruntime spin-wait on: "
                     f"{result['ratio_vs_spin_wait_p50']:.3f}.")
    if result["missed_frames"]:
        lines.append(f"\n{result['missed_frames']} frame(s) got no depth within 5 s (lost in "
                     "transport or dropped by the node).")
    if command:
        lines += ["", f"Command: `{command}`"]
    return "\n".join(lines) + "\n"


def _hw(text: str) -> tuple[int, int]:
    h, w = (int(v) for v in text.lower().split("x"))
    return h, w


def main(argv: list[str] | None = None) -> int:
    """``python -m iid_rdepth_ros.bench.node``: writes ``<name>.json`` and ``<name>.md``."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="default")
    p.add_argument("--backend", default="torch",
                   choices=("auto", "torch", "onnxruntime", "tensorrt"))
    p.add_argument("--size", type=_hw, default=(192, 640),
                   help="network input pixel budget HxW (the camera's aspect is kept)")
    p.add_argument("--camera", type=_hw, default=(375, 1242), help="camera HxW")
    p.add_argument("--frames", type=int, default=30)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--stereo", action="store_true")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=None, help="diffusion steps T")
    p.add_argument("--data", default=None, help="synth-street directory (default: procedural)")
    p.add_argument("--domain-id", type=int, default=77)
    p.add_argument("--input-qos", default="reliable", choices=("reliable", "sensor_data"))
    p.add_argument("--fastdds-profile", default=str(DEFAULT_FASTDDS_PROFILE),
                   help="Fast DDS profile for both processes ('' = Fast DDS defaults)")
    p.add_argument("--out", type=Path, default=Path("benchmarks"))
    p.add_argument("--name", default="node_overhead")
    p.add_argument("--logs", type=Path, default=None, help="node log directory (default: tmp)")
    args = p.parse_args(argv)
    opts = NodeBenchOptions(model=args.model, backend=args.backend, input_hw=args.size,
                            camera_hw=args.camera, frames=args.frames, warmup=args.warmup,
                            stereo=args.stereo, threads=args.threads,
                            diffusion_steps=args.steps, data=args.data,
                            domain_id=args.domain_id, input_qos=args.input_qos,
                            fastdds_profile=args.fastdds_profile)
    result = run_node_bench(opts, log_dir=args.logs, progress=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(result, indent=2))
    command = "python -m iid_rdepth_ros.bench.node " + " ".join(argv or sys.argv[1:])
    (args.out / f"{args.name}.md").write_text(to_markdown(result, command))
    print(to_markdown(result, command))
    return 0 if result["meets_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
