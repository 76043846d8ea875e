"""Run a benchmark sweep (one subprocess per configuration) and summarise it.

Summaries: ONNX Runtime / PyTorch throughput ratio, stereo / mono cost ratio, and the cost
of one diffusion step (least-squares slope of latency over T) with the T-independent rest.
"""

from __future__ import annotations

import itertools
import os
import platform
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from iid_rdepth_ros.bench.runner import BenchCase, WorkerJob, spawn_worker

#: GPU rows by default: eager, CUDA graphs in fp32 and fp16 autocast (``compile`` costs tens of
#: seconds per configuration; ask for it with --gpu-modes)
DEFAULT_GPU_MODES: tuple[tuple[str, str], ...] = (("off", "fp32"), ("capture", "fp32"),
                                                  ("capture", "fp16"))


@dataclass
class SweepOptions:
    """What to sweep and how long to measure each configuration."""

    model: str
    backends: Sequence[str] = ("torch", "onnxruntime")
    variants: Sequence[str] = ("mono", "stereo")
    steps: Sequence[int] = (1, 2, 4, 8)
    sizes: Sequence[tuple[int, int]] = ((192, 640), (352, 1216))
    repeats: int = 20
    warmup: int = 3
    threads: int = os.cpu_count() or 1
    engine_dir: str | None = None
    cache_dir: str | None = None
    timeout_s: float = 900.0
    #: torch on a CUDA device, as (cuda_graphs, precision) pairs; rows only where CUDA exists
    gpu_modes: Sequence[tuple[str, str]] = DEFAULT_GPU_MODES


def cases(options: SweepOptions, gpu: bool = False) -> list[BenchCase]:
    """Every configuration of the sweep, ordered so that equal graphs run back to back; with
    ``gpu``, the torch backend also runs on CUDA in each of ``options.gpu_modes``."""
    out = []
    for (h, w), t, v in itertools.product(options.sizes, options.steps, options.variants):
        out += [BenchCase(b, v, t, h, w) for b in options.backends]
        if gpu and "torch" in options.backends:
            out += [BenchCase("torch", v, t, h, w, "cuda", graphs, precision)
                    for graphs, precision in options.gpu_modes]
    return out


def gpu_available() -> tuple[bool, str]:
    """Whether torch sees a CUDA device here, and if not, why GPU rows are skipped."""
    import torch

    if not torch.cuda.is_available():
        return False, "no CUDA device here (torch.cuda.is_available() is False)"
    return True, torch.cuda.get_device_name(0)


def machine_info() -> dict[str, Any]:
    """CPU model, core count and library versions for the report."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info: dict[str, Any] = {"cpu": cpu, "cores": os.cpu_count(),
                            "python": platform.python_version()}
    for package in ("torch", "onnxruntime", "onnx", "tensorrt"):
        try:
            info[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            info[package] = None
    return info


def _engine_for(case: BenchCase, engine_dir: str | None) -> str | None:
    if case.backend != "tensorrt" or engine_dir is None:
        return None
    for precision in ("fp16", "fp32", "int8"):
        path = Path(engine_dir) / f"{case.height}x{case.width}_T{case.steps}" / \
            f"{case.variant}.{precision}.engine"
        if path.is_file():
            return str(path)
    return None


def run_sweep(options: SweepOptions,
              progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Export/count FLOPs per (size, T), measure the matmul peak, then every configuration."""
    from iid_rdepth_ros.bench.matmul_peak import measure_matmul_peak
    from iid_rdepth_ros.export.flops import count_flops
    from iid_rdepth_ros.export.onnx_cache import cached_export

    graphs: dict[tuple[int, int, int], dict[str, Path]] = {}
    flops: dict[tuple[int, int, int, str], dict[str, Any]] = {}
    for (h, w), t in itertools.product(options.sizes, options.steps):
        progress(f"export {h}x{w} T={t}")
        graphs[(h, w, t)] = cached_export(options.model, h, w, t, cache_dir=options.cache_dir)
        for variant, path in graphs[(h, w, t)].items():
            flops[(h, w, t, variant)] = count_flops(path).to_dict()
    progress(f"matmul peak ({options.threads} threads)")
    peak = measure_matmul_peak(threads=options.threads)
    gpu, gpu_note = gpu_available() if options.gpu_modes else (False, "no GPU modes asked for")
    rows = []
    for case in cases(options, gpu):
        graph = graphs[(case.height, case.width, case.steps)].get(case.variant)
        if graph is None:
            rows.append({**asdict(case), "error": "model has no stereo path"})
            continue
        model_path = str(graph) if case.backend == "onnxruntime" else options.model
        job = WorkerJob(case, model_path, _engine_for(case, options.engine_dir),
                        options.repeats, options.warmup, options.threads)
        if case.backend == "tensorrt" and job.engine_path is None:
            rows.append({**asdict(case), "error": "no engine built for this configuration"})
            continue
        progress(case.label)
        row = spawn_worker(job, options.timeout_s)
        peak_here = peak["flops_per_s"] if case.device == "cpu" else None
        row.update(_efficiency(row, flops[(case.height, case.width, case.steps, case.variant)],
                               peak_here))
        rows.append(row)
    machine = {**machine_info(), "gpu": gpu_note if gpu else None}
    return {"machine": machine, "matmul_peak": peak, "options": _plain(options),
            "rows": rows, "gpu_rows": "measured" if gpu else f"skipped: {gpu_note}",
            "summary": summarise(rows)}


def _plain(options: SweepOptions) -> dict[str, Any]:
    data = asdict(options)
    data["sizes"] = [f"{h}x{w}" for h, w in options.sizes]
    data["gpu_modes"] = [f"{g}:{p}" for g, p in options.gpu_modes]
    return data


def _efficiency(row: dict[str, Any], flop: dict[str, Any], peak: float | None
                ) -> dict[str, Any]:
    """GFLOP of the graph, achieved GFLOP/s and (CPU rows) the share of the matmul peak."""
    if "error" in row:
        return {"dense_gflop": flop["dense_flops"] / 1e9}
    seconds = row["latency_ms_median"] / 1e3
    achieved = flop["dense_flops"] / seconds
    return {"dense_gflop": flop["dense_flops"] / 1e9, "total_gflop": flop["total_flops"] / 1e9,
            "achieved_gflops": achieved / 1e9,
            "peak_fraction": None if peak is None else achieved / peak,
            "flops_by_op": flop["by_op"]}


def _index(rows: list[dict[str, Any]]) -> dict[tuple, dict[str, Any]]:
    """CPU rows by (backend, variant, T, h, w): what the CPU summaries compare."""
    return {(r["backend"], r["variant"], r["steps"], r["height"], r["width"]): r
            for r in rows if "error" not in r and r.get("device", "cpu") == "cpu"}


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """ORT/torch speed-up, stereo/mono ratio and per-step cost, from the measured rows."""
    index = _index(rows)
    speedup, stereo_ratio, per_step = [], [], []
    for (backend, variant, t, h, w), row in sorted(index.items()):
        if backend == "onnxruntime" and ("torch", variant, t, h, w) in index:
            ref = index[("torch", variant, t, h, w)]
            speedup.append({"variant": variant, "steps": t, "size": f"{h}x{w}",
                            "ort_over_torch": row["throughput_fps"] / ref["throughput_fps"]})
        if variant == "stereo" and (backend, "mono", t, h, w) in index:
            mono = index[(backend, "mono", t, h, w)]
            stereo_ratio.append({"backend": backend, "steps": t, "size": f"{h}x{w}",
                                 "stereo_over_mono": row["latency_ms_median"]
                                 / mono["latency_ms_median"]})
    groups: dict[tuple, list[tuple[int, float]]] = {}
    for (backend, variant, t, h, w), row in index.items():
        groups.setdefault((backend, variant, h, w), []).append((t, row["latency_ms_median"]))
    for (backend, variant, h, w), points in sorted(groups.items()):
        if len({t for t, _ in points}) < 2:
            continue
        ts, ms = np.array(points, dtype=float).T
        slope, intercept = np.polyfit(ts, ms, 1)
        fastest = [index[(backend, variant, int(t), h, w)]["latency_ms_min"] for t in ts]
        slope_min, _ = np.polyfit(ts, fastest, 1)
        per_step.append({"backend": backend, "variant": variant, "size": f"{h}x{w}",
                         "ms_per_step": float(slope), "ms_without_diffusion": float(intercept),
                         "ms_per_step_from_min": float(slope_min)})
    return {"ort_over_torch_throughput": speedup, "stereo_over_mono_latency": stereo_ratio,
            "diffusion_step_cost": per_step}


def to_markdown(result: dict[str, Any], command: str) -> str:
    """Readable report: machine, command, the table and the summaries."""
    m, peak = result["machine"], result["matmul_peak"]
    lines = [
        "# iid-rdepth runtime benchmark", "",
        f"Command: `{command}`", "",
        f"Machine: {m['cpu']}, {m['cores']} cores; torch {m['torch']}, onnxruntime "
        f"{m['onnxruntime']}, tensorrt {m['tensorrt'] or 'not installed'}. "
        f"Threads: {result['options']['threads']}. Model: `{result['options']['model']}`.", "",
        f"Measured float32 matmul peak: **{peak['flops_per_s'] / 1e9:.1f} GFLOP/s** "
        f"(torch {int(peak['size'])}x{int(peak['size'])} matmul, best of repeats, "
        f"{int(peak['threads'])} threads).", "",
        "Latency: network only (pre-processed tensors in, depth out), batch 1; camera -> "
        "depth: a 375x1242 uint8 camera frame in, metric depth at that size on the host out "
        "(resize/normalise/focal rescale/upsample included: on the host for CPU rows, on the "
        "device for GPU rows). Peak RSS delta: max resident memory growth from loading and "
        "running (subprocess per row). GFLOP: Conv/ConvTranspose/MatMul/Gemm counted from the "
        "ONNX graph; % peak: of the CPU matmul peak (CPU rows).", "",
        f"GPU rows: {result.get('gpu_rows', 'not asked for')}.", "",
        "| backend | device | CUDA graphs | precision | variant | T | size | median ms | p95 ms "
        "| fps | camera->depth ms | RSS +MiB | GFLOP | GFLOP/s | % peak |",
        "|---|---|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        device = r.get("device", "cpu")
        precision = r.get("engine_precision") or r.get("precision", "fp32")
        head = (f"| {r['backend']} | {device} | {r.get('cuda_graphs', 'off')} | {precision} | "
                f"{r['variant']} | {r['steps']} | {r['height']}x{r['width']} |")
        if "error" in r:
            lines.append(f"{head} {r['error']} |||||||")
            continue
        share = "-" if r["peak_fraction"] is None else f"{100 * r['peak_fraction']:.1f}"
        lines.append(
            f"{head} {r['latency_ms_median']:.2f} | {r['latency_ms_p95']:.2f} | "
            f"{r['throughput_fps']:.2f} | {r['e2e_ms_median']:.2f} | {r['rss_delta_mib']:.0f} | "
            f"{r['dense_gflop']:.2f} | {r['achieved_gflops']:.1f} | {share} |")
    s = result["summary"]
    if s["ort_over_torch_throughput"]:
        lines += ["", "## ONNX Runtime / PyTorch eager throughput", "",
                  "| variant | T | size | ORT / torch |", "|---|---:|---|---:|"]
        lines += [f"| {x['variant']} | {x['steps']} | {x['size']} | {x['ort_over_torch']:.2f}x |"
                  for x in s["ort_over_torch_throughput"]]
    if s["stereo_over_mono_latency"]:
        lines += ["", "## Stereo / mono latency", "", "| backend | T | size | stereo / mono |",
                  "|---|---:|---|---:|"]
        lines += [f"| {x['backend']} | {x['steps']} | {x['size']} | "
                  f"{x['stereo_over_mono']:.2f} |" for x in s["stereo_over_mono_latency"]]
    if s["diffusion_step_cost"]:
        lines += ["", "## Cost per diffusion step (median latency = a + b*T, least squares)", "",
                  "| backend | variant | size | b: ms / step | a: ms at T=0 "
                  "| b from min latency |", "|---|---|---|---:|---:|---:|"]
        lines += [f"| {x['backend']} | {x['variant']} | {x['size']} | {x['ms_per_step']:.2f} | "
                  f"{x['ms_without_diffusion']:.1f} | {x['ms_per_step_from_min']:.2f} |"
                  for x in s["diffusion_step_cost"]]
    profiled = [r for r in result["rows"] if r.get("time_by_op")]
    if profiled:
        lines += ["", "## Where ONNX Runtime spends its time (share of node time by op type)", ""]
        for r in profiled:
            top = ", ".join(f"{op} {100 * share:.0f} %"
                            for op, share in list(r["time_by_op"].items())[:6])
            lines.append(f"- {r['variant']} T={r['steps']} {r['height']}x{r['width']}: {top}")
    return "\n".join(lines) + "\n"
