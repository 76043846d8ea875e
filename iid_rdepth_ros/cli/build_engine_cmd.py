"""``iid-rdepth build-engine``: TensorRT 10/11 engine(s) from exported ONNX graphs."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from iid_rdepth_ros.artifacts.files import write_text_atomic
from iid_rdepth_ros.cli.arg_types import output_dir, output_file, positive_int


def add_parser(subparsers: Any) -> None:
    """Register ``build-engine``."""
    p = subparsers.add_parser(
        "build-engine", help="build TensorRT engines from exported ONNX (TensorRT 10 or 11)",
        description="Build a TensorRT engine per ONNX graph, in the precision the graph has "
                    "(make FP16 or INT8 graphs with 'iid-rdepth export --precision'): a "
                    "strongly typed network on TensorRT >= 10.12 and 11, the matching builder "
                    "flag on older 10.x (JetPack 6). Persistent timing cache keyed by "
                    "TensorRT version and GPU, and a JSON sidecar (TensorRT version, GPU and "
                    "compute capability, precision, typing, shapes, T, variant, ONNX sha256). "
                    "An existing engine that matches is reused; one that does not is refused "
                    "unless --rebuild.")
    p.add_argument("--onnx", required=True, type=Path, metavar="FILE_OR_DIR",
                   help="an exported .onnx, or an export directory (mono.onnx + stereo.onnx)")
    p.add_argument("--out", required=True, type=output_dir, metavar="DIR",
                   help="engine directory")
    for flag in ("--fp16", "--int8"):  # TensorRT 10 era options: say where precision went
        p.add_argument(flag, action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--calib", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--workspace", type=float, default=2.0, metavar="GIB",
                   help="builder workspace memory pool limit in GiB (default 2)")
    p.add_argument("--timing-cache", type=output_file, metavar="FILE",
                   help="timing cache file (default: OUT/timing-<TensorRT>-<GPU>-sm<cc>.cache)")
    p.add_argument("--rebuild", action="store_true", help="rebuild even if an engine exists")
    p.add_argument("--compare", type=Path, metavar="DIR",
                   help="after building, compare depth against FP32 ONNX Runtime (the "
                        "export's fp32/ reference graph for an FP16/INT8 graph) on frames of "
                        "this synth-street directory")
    p.add_argument("--compare-frames", type=positive_int, default=8, metavar="N",
                   help="frames for --compare (default 8)")


def _graphs(path: Path) -> list[Path]:
    if path.is_dir():
        graphs = [path / f"{v}.onnx" for v in ("mono", "stereo") if (path / f"{v}.onnx").is_file()]
        if not graphs:
            raise FileNotFoundError(f"no mono.onnx or stereo.onnx in {path}")
        return graphs
    if not path.is_file():
        raise FileNotFoundError(f"ONNX file {path} does not exist")
    return [path]


def run(args: argparse.Namespace) -> int:
    """Build (or reuse) each engine, then optionally compare it with FP32."""
    from iid_rdepth_ros.artifacts.errors import RunnerError
    from iid_rdepth_ros.export.tensorrt_build import BuildOptions, build_engine

    if args.fp16 or args.int8 or args.calib is not None:
        wanted = "int8 --calib DIR" if args.int8 or args.calib is not None else "fp16"
        raise ValueError(f"precision lives in the ONNX graph now (TensorRT 11 has no FP16/INT8 "
                         f"builder flags): run 'iid-rdepth export --precision {wanted} --out "
                         f"DIR', then 'iid-rdepth build-engine --onnx DIR'")
    if args.compare is not None and not args.compare.is_dir():
        raise NotADirectoryError(f"--compare directory {args.compare} does not exist")
    graphs = _graphs(args.onnx)
    options = BuildOptions(workspace_gib=args.workspace, timing_cache=args.timing_cache,
                           rebuild=args.rebuild)
    options.validate()
    try:
        results = [build_engine(graph, args.out, options) for graph in graphs]
    except RunnerError as exc:  # TensorRT / pycuda missing, or no GPU
        print(f"iid-rdepth build-engine: error: {exc}", file=sys.stderr)
        return 1
    for result in results:
        what = f"built in {result.seconds:.0f} s" if result.built else "up to date (reused)"
        side = result.sidecar
        typing = "strongly typed" if side.get("strongly_typed") else \
            f"weakly typed, flags {side.get('builder_flags') or 'none'}"
        print(f"{result.engine_path}: {what}; {side['precision']} ({typing}), "
              f"{side['variant']}, T={side['steps']}, TensorRT {side['tensorrt_version']}, "
              f"{side['gpu_name']} (sm {side['compute_capability']})")
        for note in side.get("build_notes") or []:
            print(f"  note: {note}")
    if args.compare is not None:
        from iid_rdepth_ros.bench.precision import compare_engine

        for graph, result in zip(graphs, results, strict=True):
            report = compare_engine(result.engine_path, graph, args.compare,
                                    args.compare_frames)
            out = result.engine_path.with_name(result.engine_path.name + ".compare.json")
            write_text_atomic(out, json.dumps(report, indent=2) + "\n")
            worst, mean = report["worst"], report["mean"]
            print(f"{result.engine_path.name} vs FP32 ONNX Runtime on {report['frames']} "
                  f"frames: mean rel {mean['rel_mean']:.2e}, p99 rel {worst['rel_p99']:.2e}, "
                  f"max abs {worst['abs_max']:.3f} m, RMSE {mean['rmse']:.3f} m -> {out}")
    return 0
