"""Runtime benchmark: latency, throughput, memory and FLOP efficiency per backend/config.

Every configuration runs in its own subprocess (``python -m iid_rdepth_ros.bench.runner
--worker JSON``) so peak memory (``VmHWM``) belongs to that configuration alone and one
backend's threads or allocations cannot disturb the next. The parent exports the ONNX graphs
once per (size, T) through the shared cache, counts their FLOPs, and measures the float32
matmul peak with the same thread count, so every row can say which fraction of it it reaches.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: Camera image the camera-to-depth timing feeds (KITTI-sized); the network size is per config.
CAMERA_HW = (375, 1242)


@dataclass(frozen=True)
class BenchCase:
    """One configuration of the sweep."""

    backend: str
    variant: str  # mono | stereo
    steps: int
    height: int
    width: int
    device: str = "cpu"  # torch: cpu | cuda
    cuda_graphs: str = "off"  # torch on CUDA: off | capture | compile
    precision: str = "fp32"  # torch on CUDA: fp32 | fp16 | bf16 (autocast)

    @property
    def label(self) -> str:
        """Short readable name."""
        label = f"{self.backend}/{self.variant}/T{self.steps}/{self.height}x{self.width}"
        if self.device != "cpu":
            label += f"/{self.device}/graphs-{self.cuda_graphs}/{self.precision}"
        return label


@dataclass(frozen=True)
class WorkerJob:
    """Everything a worker process needs (JSON-serialisable)."""

    case: BenchCase
    model_path: str  # checkpoint (torch) or mono/stereo .onnx (onnxruntime)
    engine_path: str | None
    repeats: int
    warmup: int
    threads: int


def _proc_status_mib(field: str) -> float | None:
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return float(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    return None


def rss_now_mib() -> float:
    """Current resident set size (MiB)."""
    value = _proc_status_mib("VmRSS")
    return value if value is not None else rss_peak_mib()


def rss_peak_mib() -> float:
    """Peak resident set size of this process image (MiB).

    ``VmHWM`` where /proc exists: unlike ``ru_maxrss`` it is not inherited across ``exec``
    from the (large) parent that spawned the worker.
    """
    value = _proc_status_mib("VmHWM")
    if value is not None:
        return value
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def run_worker(job: WorkerJob) -> dict[str, Any]:
    """Measure one configuration in this process (see module docstring)."""
    from iid_rdepth_ros.bench.frames import procedural_frame
    from iid_rdepth_ros.export.open_runner import open_runner
    from iid_rdepth_ros.runtime import RunnerConfig
    from iid_rdepth_ros.runtime.processing import preprocess

    case = job.case
    if case.backend == "torch":
        import torch

        torch.set_num_threads(job.threads)
    elif case.backend == "onnxruntime":
        import onnxruntime  # noqa: F401 - imported before the memory baseline
    frame = procedural_frame(*CAMERA_HW, seed=1, stereo=case.variant == "stereo")
    rss_before = rss_now_mib()
    gpu = {}
    if case.backend == "torch":
        gpu = {"device": case.device, "cuda_graphs": case.cuda_graphs,
               "autocast": "off" if case.precision == "fp32" else case.precision}
    config = RunnerConfig(backend=case.backend, model_path=job.model_path,
                          engine_path=job.engine_path, input_height=case.height,
                          input_width=case.width, diffusion_steps=case.steps,
                          num_threads=job.threads, **gpu)  # type: ignore[arg-type]
    runner = open_runner(config)
    start = time.perf_counter()
    runner.load()
    load_s = time.perf_counter() - start
    prepared = preprocess(frame.image, (case.height, case.width), frame.intrinsics, frame.aux,
                          frame.baseline_m, runner.canonical_focal)
    for _ in range(job.warmup):
        runner.infer_network(prepared)
    latencies = []
    loop_start = time.perf_counter()
    for _ in range(job.repeats):
        start = time.perf_counter()
        runner.infer_network(prepared)
        latencies.append(time.perf_counter() - start)
    loop_s = time.perf_counter() - loop_start
    for _ in range(max(1, job.warmup)):  # a GPU captures its camera-to-depth graph here
        runner.infer(frame.image, aux=frame.aux, intrinsics=frame.intrinsics,
                     baseline_m=frame.baseline_m)
    e2e = []
    for _ in range(max(3, job.repeats // 4)):
        start = time.perf_counter()
        runner.infer(frame.image, aux=frame.aux, intrinsics=frame.intrinsics,
                     baseline_m=frame.baseline_m)
        e2e.append(time.perf_counter() - start)
    info = runner.info
    gpu_mib = _gpu_peak_mib() if case.device != "cpu" else None
    runner.close()
    by_op = None
    if case.backend == "onnxruntime":
        feeds = {"image": prepared.image}
        if prepared.stereo:
            feeds.update(aux=prepared.aux, fb=prepared.fb)
        by_op = ort_time_by_op(info["graphs"][case.variant], feeds, job.threads)
    lat = np.array(latencies)
    return {
        **asdict(case), "threads": job.threads, "repeats": job.repeats, "load_s": load_s,
        "latency_ms_median": float(np.median(lat) * 1e3),
        "latency_ms_p95": float(np.percentile(lat, 95) * 1e3),
        "latency_ms_min": float(lat.min() * 1e3),
        "throughput_fps": job.repeats / loop_s,
        "e2e_ms_median": float(np.median(e2e) * 1e3),
        "rss_peak_mib": rss_peak_mib(), "rss_delta_mib": rss_peak_mib() - rss_before,
        "providers": info.get("providers"), "time_by_op": by_op,
        "gpu_peak_mib": gpu_mib, "graph_notes": info.get("graph_notes"),
        "engine_precision": info.get("precision") if case.backend == "tensorrt" else None,
    }


def _gpu_peak_mib() -> float | None:
    import torch

    return torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None


def ort_time_by_op(onnx_path: str, feeds: dict[str, np.ndarray], threads: int,
                   runs: int = 3) -> dict[str, float]:
    """Share of ONNX Runtime node time per op type (from its profiler), largest first."""
    import tempfile

    import onnxruntime as ort

    from iid_rdepth_ros.runtime.onnxruntime_runner import create_session, session_options

    options = session_options(ort, threads)
    options.enable_profiling = True
    with tempfile.TemporaryDirectory() as tmp:
        options.profile_file_prefix = str(Path(tmp) / "ort")
        session = create_session(ort, Path(onnx_path), options, ["CPUExecutionProvider"])
        for _ in range(runs):
            session.run(["depth"], feeds)
        events = json.loads(Path(session.end_profiling()).read_text("utf-8"))
    totals: dict[str, float] = {}
    for event in events:
        if event.get("cat") == "Node" and event.get("name", "").endswith("_kernel_time"):
            op = event.get("args", {}).get("op_name", "?")
            totals[op] = totals.get(op, 0.0) + float(event.get("dur", 0))
    whole = sum(totals.values()) or 1.0
    return {op: t / whole for op, t in sorted(totals.items(), key=lambda kv: -kv[1])}


def spawn_worker(job: WorkerJob, timeout_s: float) -> dict[str, Any]:
    """Run :func:`run_worker` in a fresh interpreter; an ``error`` entry if it fails."""
    payload = json.dumps({**asdict(job), "case": asdict(job.case)})
    from iid_rdepth_ros.artifacts.python_cmd import child_env, python_module_command

    env = child_env(extra={"OMP_NUM_THREADS": str(job.threads)})
    try:
        proc = subprocess.run(
            python_module_command("iid_rdepth_ros.bench.runner", "--worker", payload),
            capture_output=True, text=True, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired:
        return {**asdict(job.case), "error": f"timed out after {timeout_s:.0f} s"}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {**asdict(job.case), "error": f"worker failed ({proc.returncode}): {tail}"}
    return json.loads(lines[-1])


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="benchmark worker (internal)")
    parser.add_argument("--worker", required=True, help="WorkerJob as JSON")
    args = parser.parse_args(argv)
    data = json.loads(args.worker)
    job = WorkerJob(**{**data, "case": BenchCase(**data["case"])})
    print(json.dumps(run_worker(job)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_main())
