"""``iid-rdepth export``: checkpoint -> ``mono.onnx`` + ``stereo.onnx`` + ``export.json``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from iid_rdepth_ros.cli.arg_types import (
    camera_size,
    diffusion_steps,
    network_height,
    network_width,
    output_dir,
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
                    "vs PyTorch agreement).")
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
    p.add_argument("--no-verify", action="store_true",
                   help="skip the ONNX Runtime vs PyTorch check")
    p.add_argument("--strict", action="store_true",
                   help="exit 1 if a graph uses an op TensorRT 10 cannot parse")


def run(args: argparse.Namespace) -> int:
    """Export and print a short report; see ``export/onnx_export.py``."""
    from iid_rdepth_ros.export.onnx_export import (
        PARITY_REFINE_SHARE,
        PARITY_RTOL,
        export_checkpoint,
    )

    if args.opset < 17:
        raise ValueError(f"--opset must be >= 17, got {args.opset}")
    height, width = args.height, args.width
    if args.camera is not None:
        from iid_rdepth_ros.model.checkpoint import checkpoint_config
        from iid_rdepth_ros.runtime.network_size import network_size

        preset = checkpoint_config(args.model).input_size
        budget = (height or preset[0], width or preset[1])
        height, width = network_size(args.camera, budget)
        print(f"camera {args.camera[1]}x{args.camera[0]}: graph size {height}x{width} (HxW, "
              f"aspect kept within {budget[0]}x{budget[1]} pixels)")
    result = export_checkpoint(args.model, args.out, height, width, args.steps,
                               opset=args.opset, verify=not args.no_verify,
                               stereo_refine=not args.no_stereo_refine)
    meta = result.sidecar
    print(f"model {args.model} (preset {meta['preset']}) at {meta['height']}x{meta['width']}, "
          f"T={meta['steps']}, opset {meta['opset']}")
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
            print(f"    ONNX Runtime vs PyTorch: max rel {parity['max_rel']:.2e}, max abs "
                  f"{parity['max_abs']:.2e} m, {parity['share_above_rtol']:.3%} of pixels "
                  f"beyond {PARITY_RTOL:g} ({'OK' if ok else 'FAILED'}: {rule})")
            failed |= not ok
        failed |= args.strict and not result.compat[variant].ok
    print(f"  {result.sidecar_path}")
    if failed:
        print("iid-rdepth export: error: a check failed (see above)", file=sys.stderr)
        return 1
    return 0
