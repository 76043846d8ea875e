"""``iid-rdepth build-engine``: TensorRT 10 engine(s) from exported ONNX graphs."""

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
        "build-engine", help="build TensorRT engines from exported ONNX (needs TensorRT 10)",
        description="Build a TensorRT 10 engine per ONNX graph (FP32, FP16 or INT8 with an "
                    "entropy calibrator over real synth-street frames), with a persistent "
                    "timing cache and a JSON sidecar (TensorRT version, GPU and compute "
                    "capability, precision, shapes, T, variant, ONNX sha256). An existing "
                    "engine that matches is reused; one that does not is refused unless "
                    "--rebuild.")
    p.add_argument("--onnx", required=True, type=Path, metavar="FILE_OR_DIR",
                   help="an exported .onnx, or an export directory (mono.onnx + stereo.onnx)")
    p.add_argument("--out", required=True, type=output_dir, metavar="DIR",
                   help="engine directory")
    p.add_argument("--fp16", action="store_true", help="allow FP16 kernels")
    p.add_argument("--int8", action="store_true", help="INT8 (needs --calib)")
    p.add_argument("--calib", type=Path, metavar="DIR",
                   help="synth-street directory with calibration frames (INT8)")
    p.add_argument("--calib-frames", type=positive_int, default=64, metavar="N",
                   help="calibration frames (default 64)")
    p.add_argument("--workspace", type=float, default=2.0, metavar="GIB",
                   help="builder workspace memory pool limit in GiB (default 2)")
    p.add_argument("--timing-cache", type=output_file, metavar="FILE",
                   help="timing cache file (default: OUT/timing.cache)")
    p.add_argument("--rebuild", action="store_true", help="rebuild even if an engine exists")
    p.add_argument("--compare", type=Path, metavar="DIR",
                   help="after building, compare depth against FP32 ONNX Runtime on frames "
                        "of this synth-street directory")
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
    """Build (or reuse) each engine, then optionally compare precisions."""
    from iid_rdepth_ros.artifacts.errors import RunnerError
    from iid_rdepth_ros.export.tensorrt_build import BuildOptions, build_engine

    if args.int8 and args.calib is None:
        raise ValueError("--int8 needs --calib DIR (a synth-street directory of real frames)")
    if args.calib is not None and not args.calib.is_dir():
        raise NotADirectoryError(f"calibration directory {args.calib} does not exist")
    if args.compare is not None and not args.compare.is_dir():
        raise NotADirectoryError(f"--compare directory {args.compare} does not exist")
    graphs = _graphs(args.onnx)
    calibration = None
    if args.int8:
        from iid_rdepth_ros.artifacts.onnx_meta import get_metadata
        from iid_rdepth_ros.bench.frames import calibration_feeds

        calibration = {}
        for graph in graphs:
            meta = get_metadata(graph)
            calibration[meta["variant"]] = calibration_feeds(args.calib, meta, args.calib_frames)
    options = BuildOptions(fp16=args.fp16, int8=args.int8, calibration=calibration,
                           workspace_gib=args.workspace, timing_cache=args.timing_cache,
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
        print(f"{result.engine_path}: {what}; {side['precision']}, {side['variant']}, "
              f"T={side['steps']}, TensorRT {side['tensorrt_version']}, {side['gpu_name']} "
              f"(sm {side['compute_capability']})")
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
