"""``iid-rdepth evaluate``: standard depth metrics of a model (or OpenCV SGBM) on synth-street."""

from __future__ import annotations

import argparse
from typing import Any


def _on_off(value: str) -> bool:
    v = value.strip().lower()
    if v in ("on", "true", "1", "yes"):
        return True
    if v in ("off", "false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected on or off, got {value!r}")


def _positive(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return n


def add_parser(subparsers: Any) -> None:
    """Register ``evaluate``."""
    p = subparsers.add_parser(
        "evaluate",
        help="standard depth metrics (AbsRel, RMSE, SILog, δ...) on a synth-street directory",
        description="Evaluate a checkpoint (or, with --sgbm, OpenCV StereoSGBM) on a "
                    "synth-street directory: dense ground truth (sky excluded), 1e-3..80 m, no "
                    "median scaling, per-frame metrics averaged over frames. Prints a table and "
                    "optionally writes JSON (metrics at the top level) and Markdown.")
    p.add_argument("--model", metavar="NAME_OR_PATH",
                   help="'default', 'baseline' or a checkpoint path (.safetensors / stem); "
                        "with --sgbm: also score the network on SGBM's pixels")
    p.add_argument("--data", required=True, metavar="DIR", help="synth-street directory")
    p.add_argument("--sgbm", action="store_true",
                   help="evaluate OpenCV StereoSGBM over its own valid pixels (+ coverage)")
    p.add_argument("--aux", type=_on_off, default=True, metavar="on|off",
                   help="feed the right image to the network (AV-LFE); default on")
    p.add_argument("--steps", type=_positive, default=None, metavar="T",
                   help="diffusion steps T (default: the model's)")
    p.add_argument("--frames", type=_positive, default=None, metavar="N",
                   help="evaluate N evenly spaced frames (default: all)")
    p.add_argument("--max-depth", type=float, default=80.0, metavar="M",
                   help="ground-truth depth cap in metres (default 80)")
    p.add_argument("--garg-crop", action="store_true", help="apply the Garg crop")
    p.add_argument("--near", type=float, default=2.0, metavar="M",
                   help="--sgbm: nearest depth the disparity search covers (default 2 m)")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON")
    p.add_argument("--markdown", metavar="FILE", help="write the metrics table as Markdown")
    p.add_argument("--batch-size", type=_positive, default=4, metavar="B")
    p.add_argument("--threads", type=_positive, default=None, metavar="N",
                   help="torch intra-op threads (default: torch's)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--backend", choices=("torch", "onnxruntime", "tensorrt"), default=None,
                   help="predict through the deployment runtime with this backend (same "
                        "pre/post-processing for all); default: the model called directly")
    p.add_argument("--engine", metavar="FILE", help="TensorRT engine for --backend tensorrt")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _rows(result: dict[str, Any], args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    if not args.sgbm:
        mode = "stereo" if result.get("aux_engaged") else "mono"
        return {f"network ({mode})": result}
    rows = {"SGBM (its pixels)": result}
    if "network_same_pixels" in result:
        mode = "stereo" if result.get("aux_engaged") else "mono"
        rows[f"network ({mode}, SGBM pixels)"] = result["network_same_pixels"]
        rows[f"network ({mode}, all pixels)"] = result["network_all_pixels"]
    return rows


def run(args: argparse.Namespace) -> int:
    """Evaluate and report; user errors raise ValueError / FileNotFoundError (exit 2)."""
    if not args.sgbm and not args.model:
        raise ValueError("--model is required (or use --sgbm for the OpenCV SGBM baseline)")
    if args.backend is not None and args.sgbm:
        raise ValueError("--backend applies to the network, not to --sgbm")
    if args.backend == "tensorrt" and not args.engine:
        raise ValueError("--backend tensorrt needs --engine FILE")
    if not args.max_depth > 1e-3:
        raise ValueError(f"--max-depth must be > 0.001, got {args.max_depth}")
    from iid_rdepth_ros.training.report import markdown_table, print_table, write_json

    progress = not args.no_progress
    if args.sgbm:
        from iid_rdepth_ros.training.sgbm import evaluate_sgbm

        result = evaluate_sgbm(args.data, args.model, args.aux, args.steps, args.batch_size,
                               args.threads, progress, frames=args.frames, near_m=args.near,
                               max_depth=args.max_depth, garg_crop=args.garg_crop,
                               device=args.device)
    else:
        from iid_rdepth_ros.training.evaluate import evaluate

        result = evaluate(args.model, args.data, args.aux, args.steps, args.batch_size,
                          args.threads, progress, frames=args.frames, max_depth=args.max_depth,
                          garg_crop=args.garg_crop, device=args.device,
                          backend=args.backend, engine_path=args.engine)
    rows = _rows(result, args)
    title = f"synth-street {args.data}, {result['frames']} frames"
    if args.model:
        title += f", model {args.model}"
    print_table(rows, title=title)
    if args.json:
        print(f"JSON: {write_json(args.json, result)}")
    if args.markdown:
        from pathlib import Path

        path = Path(args.markdown)
        path.parent.mkdir(parents=True, exist_ok=True)
        notes = [f"data: {args.data} (synth-street, seed {result['data'].get('seed')}; "
                 "not KITTI)",
                 f"dense ground truth, sky excluded, 1e-3..{args.max_depth:g} m, "
                 "no median scaling, mean of per-frame metrics"]
        if args.sgbm:
            notes.append(f"SGBM coverage: {100 * result['coverage']:.1f} % of valid "
                         "ground-truth pixels")
        path.write_text(markdown_table(rows, title=title, notes=notes))
        print(f"Markdown: {path}")
    return 0
