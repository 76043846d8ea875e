"""``iid-rdepth export``: checkpoint -> ``mono.onnx`` + ``stereo.onnx`` + ``export.json``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from iid_rdepth_ros.cli.arg_types import (
    camera_size,
    diffusion_steps,
    max_disparity,
    network_height,
    network_width,
    output_dir,
    positive_int,
)


def add_parser(subparsers: Any) -> None:
    """Register ``export``."""
    p = subparsers.add_parser(
        "export", help="export a checkpoint to fixed-shape ONNX graphs (mono and stereo)",
        description="Export a checkpoint to two ONNX graphs at a fixed input size and fixed "
                    "diffusion steps T (loop unrolled): mono.onnx (input image) and "
                    "stereo.onnx (image, aux, fb = canonical focal x baseline, AV-LFE "
                    "engaged), plus export.json (model, preset, size, T, opset, sha256 of each "
                    "graph, canonical focal, depth range, TensorRT 10 op check, ONNX Runtime "
                    "vs PyTorch agreement). Precision lives in the graph (TensorRT 11 builds "
                    "strongly typed networks only): --precision fp16 or int8 writes the "
                    "converted graphs, the FP32 reference under OUT/fp32/, and each graph's "
                    "depth error against FP32 (ONNX Runtime) into export.json; "
                    "'iid-rdepth build-engine' then builds what the graph says.")
    p.add_argument("--model", default="default", metavar="NAME_OR_PATH",
                   help="checkpoint: 'default', 'baseline' or a .safetensors path")
    p.add_argument("--out", required=True, type=output_dir, metavar="DIR",
                   help="output directory")
    p.add_argument("--height", type=network_height, metavar="H",
                   help="input height, a multiple of 32 up to 2048 (default: preset's); with "
                        "--camera, the pixel budget with --width")
    p.add_argument("--width", type=network_width, metavar="W",
                   help="input width, a multiple of 32 up to 4096 (default: preset's)")
    p.add_argument("--camera", type=camera_size, metavar="WxH",
                   help="export for a camera of this image size (WIDTHxHEIGHT, e.g. 1280x720): "
                        "the graph size keeps its aspect within height x width pixels, as the "
                        "node and eval-bag choose it (runtime.network_size)")
    p.add_argument("--steps", type=diffusion_steps, metavar="T",
                   help="diffusion steps baked into the graph, 1..64 (default: the "
                        "checkpoint's)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (>= 17; default 17)")
    p.add_argument("--no-stereo-refine", action="store_true",
                   help="leave AV-LFE's full-resolution stereo refinement out of the stereo "
                        "graph (faster, less accurate)")
    p.add_argument("--max-disparity", type=max_disparity, metavar="D",
                   help="search range 0..D (network pixels, a multiple of 8) of the "
                        "geometry-first stereo matcher baked into the stereo graph (default: "
                        "the checkpoint's stereo.max_disparity)")
    p.add_argument("--precision", choices=("fp32", "fp16", "int8"), default="fp32",
                   help="fp32 (default); fp16: float16 inside, float32 inputs/outputs; int8: "
                        "explicit quantization (QDQ) calibrated on --calib frames, with the "
                        "bin-centre predictor and depthwise convolutions kept in float")
    p.add_argument("--calib", type=Path, metavar="DIR",
                   help="int8: real frames to calibrate on (synth-street directory or folder "
                        "data set)")
    p.add_argument("--calib-frames", type=positive_int, default=32, metavar="N",
                   help="int8: calibration frames, spread over --calib (default 32)")
    p.add_argument("--eval", type=Path, metavar="DIR",
                   help="fp16/int8: frames to measure the depth error against FP32 on "
                        "(default: synth-street frames rendered with seed 11)")
    p.add_argument("--eval-frames", type=positive_int, default=16, metavar="N",
                   help="fp16/int8: frames for the error measurement (default 16)")
    p.add_argument("--no-verify", action="store_true",
                   help="skip the ONNX Runtime vs PyTorch check")
    p.add_argument("--strict", action="store_true",
                   help="exit 1 if a graph uses an op TensorRT 10 cannot parse")


def run(args: argparse.Namespace) -> int:
    """Export and print a short report; see ``export/onnx_export.py``."""
    from iid_rdepth_ros.export.onnx_export import PARITY_REFINE_SHARE, PARITY_RTOL
    from iid_rdepth_ros.export.precision import PrecisionOptions, export_with_precision

    if args.opset < 17:
        raise ValueError(f"--opset must be >= 17, got {args.opset}")
    _check_precision_args(args)
    height, width = args.height, args.width
    if args.camera is not None:
        from iid_rdepth_ros.model.checkpoint import checkpoint_config
        from iid_rdepth_ros.runtime.network_size import network_size

        preset = checkpoint_config(args.model).input_size
        budget = (height or preset[0], width or preset[1])
        height, width = network_size(args.camera, budget)
        print(f"camera {args.camera[1]}x{args.camera[0]}: graph size {height}x{width} (HxW, "
              f"aspect kept within {budget[0]}x{budget[1]} pixels)")
    result = export_with_precision(
        args.model, args.out, PrecisionOptions(args.precision), height=height,
        width=width, steps=args.steps, opset=args.opset, verify=not args.no_verify,
        stereo_refine=not args.no_stereo_refine, max_disparity=args.max_disparity,
        calib_dir=args.calib,
        calib_frames=args.calib_frames, eval_dir=args.eval, eval_frames=args.eval_frames)
    meta = result.sidecar
    print(f"model {args.model} (preset {meta['preset']}) at {meta['height']}x{meta['width']}, "
          f"T={meta['steps']}, opset {meta['opset']}, {args.precision}")
    failed = False
    for variant, path in result.graphs.items():
        entry = meta["graphs"][variant]
        print(f"  {path}  {entry['bytes'] / 2**20:.1f} MiB  sha256 {entry['sha256'][:16]}...")
        print("    " + result.compat[variant].summary().replace("\n", "\n    "))
        parity = entry.get("ort_vs_torch")
        if parity is not None:
            ok = parity["ok"]
            rule = (f"at most {PARITY_REFINE_SHARE:.0%} of pixels beyond {PARITY_RTOL:g}: "
                    "thresholded stereo refinement" if parity["refined"] else f"{PARITY_RTOL:g}")
            what = "fp32/ reference, " if "reference_dir" in meta else ""
            print(f"    {what}ONNX Runtime vs PyTorch: max rel {parity['max_rel']:.2e}, max abs "
                  f"{parity['max_abs']:.2e} m, {parity['share_above_rtol']:.3%} of pixels "
                  f"beyond {PARITY_RTOL:g} ({'OK' if ok else 'FAILED'}: {rule})")
            failed |= not ok
        accuracy = entry.get("accuracy_vs_fp32")
        if accuracy is not None:
            print("    " + _accuracy_line(accuracy))
            failed |= not accuracy.get("meets_int8_target", True)
        failed |= args.strict and not result.compat[variant].ok
    print(f"  {result.sidecar_path}")
    if failed:
        print("iid-rdepth export: error: a check failed (see above)", file=sys.stderr)
        return 1
    return 0


def _check_precision_args(args: argparse.Namespace) -> None:
    """One clear error for options that do not fit the precision."""
    if args.calib is not None and args.precision != "int8":
        raise ValueError("--calib applies to --precision int8 only")
    if args.eval is not None and args.precision == "fp32":
        raise ValueError("--eval applies to --precision fp16 or int8 only")
    if args.precision == "int8" and args.calib is None:
        raise ValueError("--precision int8 needs --calib DIR (real frames to calibrate on: "
                         "e.g. 'iid-rdepth synth --out DIR --frames 48 --seed 7')")
    for name in ("calib", "eval"):
        path = getattr(args, name)
        if path is not None and not path.is_dir():
            raise NotADirectoryError(f"--{name} directory {path} does not exist")


def _accuracy_line(report: dict[str, Any]) -> str:
    line = (f"vs FP32 (ONNX Runtime, {report['frames']} frames): mean rel "
            f"{report['rel_mean_vs_fp32']:.2e}, p99 rel {report['rel_p99_vs_fp32']:.2e}, max "
            f"abs {report['abs_max_vs_fp32_m']:.2f} m")
    if report.get("absrel_loss") is not None:
        line += (f"; AbsRel {report['absrel_fp32']:.4f} -> {report['absrel']:.4f} "
                 f"({report['absrel_loss']:+.4f})")
    if "meets_int8_target" in report:
        line += " OK" if report["meets_int8_target"] else " ABOVE the INT8 target"
    return line
