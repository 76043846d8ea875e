"""``iid-rdepth evaluate``: standard depth metrics of a model, saved predictions or OpenCV SGBM
on synth-street, KITTI, NYU Depth v2, Middlebury stereo scenes or a folder data set."""

from __future__ import annotations

import argparse
from typing import Any

from iid_rdepth_ros.cli.arg_types import (
    batch_size,
    diffusion_steps,
    output_dir,
    output_file,
    positive_int,
    threads,
)
from iid_rdepth_ros.datasets import DATASETS


def _on_off(value: str) -> bool:
    v = value.strip().lower()
    if v in ("on", "true", "1", "yes"):
        return True
    if v in ("off", "false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected on or off, got {value!r}")


DATASET_NAMES = tuple(DATASETS)


def add_parser(subparsers: Any) -> None:
    """Register ``evaluate``."""
    p = subparsers.add_parser(
        "evaluate",
        help="standard depth metrics (AbsRel, RMSE, SILog, δ...) on synth-street, KITTI, NYU "
             "or your own data",
        description="Evaluate a checkpoint, saved predictions (--predictions) or, on "
                    "synth-street, OpenCV StereoSGBM (--sgbm) with the standard protocol: "
                    "no median scaling, per-frame metrics averaged over frames. synth-street: "
                    "dense ground truth (sky excluded), 1e-3..80 m. KITTI: Garg crop, "
                    "1e-3..80 m, KB crop (352x1216) on by default, split eigen_benchmark (652 "
                    "frames, annotated depth) by default or eigen (697, velodyne). NYU Depth v2: "
                    "Eigen crop, 1e-3..10 m, mono. Middlebury: real stereo scenes (im0/im1, "
                    "calib.txt, disp0[GT].pfm), depth f*B/(d+doffs), 1e-3..80 m; evaluate them "
                    "through the runtime (--backend), which keeps the camera's aspect. Prints "
                    "a table and optionally writes JSON "
                    "(metrics at the top level) and Markdown.",
        epilog="Examples: iid-rdepth evaluate --model run/stage2 --dataset kitti --data-root "
               "KITTI --split eigen_benchmark --json kitti.json; iid-rdepth evaluate --model "
               "run/stage2 --dataset nyu --data-root nyu_depth_v2_labeled.mat --aux off; "
               "iid-rdepth evaluate --model default --dataset middlebury --data SCENES "
               "--backend onnxruntime --sgbm")
    p.add_argument("--model", metavar="NAME_OR_PATH",
                   help="'default', 'baseline' or a checkpoint path (.safetensors / stem); "
                        "with --sgbm: also score the network on SGBM's pixels")
    p.add_argument("--dataset", choices=DATASET_NAMES, default="synth",
                   help="data set kind (default synth)")
    p.add_argument("--data", "--data-root", dest="data", metavar="DIR",
                   help="synth-street directory, or the data root of kitti / nyu (folder or "
                        "the labeled .mat) / folder / middlebury (one scene folder or a folder "
                        "of them)")
    p.add_argument("--split", metavar="NAME|FILE",
                   help="kitti: eigen_benchmark (default), eigen or a list file; nyu: test "
                        "(default), train, all or a file; folder: all (default), train, val "
                        "or a list file; middlebury: all (default) or a file of scene names")
    p.add_argument("--gt", choices=("auto", "annotated", "velodyne"), default=None,
                   help="kitti ground truth (default auto: the split's convention -- eigen: "
                        "velodyne, eigen_benchmark: annotated)")
    p.add_argument("--gt-root", metavar="DIR",
                   help="kitti: where the annotated depth maps are (default: --data-root)")
    p.add_argument("--kb-crop", type=_on_off, default=None, metavar="on|off",
                   help="kitti: evaluate on the 352x1216 KB crop (default on)")
    p.add_argument("--crop", choices=("auto", "garg", "eigen", "none"), default=None,
                   help="evaluation crop (default auto: kitti garg, nyu eigen, else none)")
    p.add_argument("--predictions", metavar="DIR",
                   help="score saved predictions (NAME.npy metres or NAME.png uint16 m*256, "
                        "named like the frames) instead of a model")
    p.add_argument("--save-predictions", type=output_dir, metavar="DIR",
                   help="write the model's metric predictions as NAME.npy")
    p.add_argument("--sgbm", action="store_true",
                   help="evaluate OpenCV StereoSGBM over its own valid pixels (+ coverage) "
                        "on a stereo data set; with --model the network is scored beside it")
    p.add_argument("--aux", type=_on_off, default=None, metavar="on|off",
                   help="feed the right image to the network (AV-LFE); default on where the "
                        "data set has one (never for nyu)")
    p.add_argument("--steps", type=diffusion_steps, default=None, metavar="T",
                   help="diffusion steps T, 1..64 (default: the model's)")
    p.add_argument("--frames", type=positive_int, default=None, metavar="N",
                   help="evaluate N evenly spaced frames (default: all)")
    p.add_argument("--min-depth", type=float, default=None, metavar="M",
                   help="ground-truth lower bound in metres (default 1e-3)")
    p.add_argument("--max-depth", type=float, default=None, metavar="M",
                   help="ground-truth depth cap in metres (default: kitti / synth 80, nyu 10)")
    p.add_argument("--garg-crop", action="store_true", help="apply the Garg crop (= --crop garg)")
    p.add_argument("--near", type=float, default=2.0, metavar="M",
                   help="--sgbm: nearest depth the disparity search covers (default 2 m)")
    p.add_argument("--json", type=output_file, metavar="FILE", help="write the results as JSON")
    p.add_argument("--markdown", type=output_file, metavar="FILE",
                   help="write the metrics table as Markdown")
    p.add_argument("--batch-size", type=batch_size, default=4, metavar="B")
    p.add_argument("--threads", type=threads, default=None, metavar="N",
                   help="torch intra-op threads (default: torch's)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--backend", choices=("torch", "onnxruntime", "tensorrt"), default=None,
                   help="predict through the deployment runtime with this backend (same "
                        "pre/post-processing for all); default: the model called directly")
    p.add_argument("--engine", metavar="FILE", help="TensorRT engine for --backend tensorrt")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _rows(result: dict[str, Any], args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    if args.predictions is not None:
        return {"saved predictions": result}
    if not args.sgbm:
        mode = "stereo" if result.get("aux_engaged") else "mono"
        return {f"network ({mode})": result}
    rows = {"SGBM (its pixels)": result}
    if "network_same_pixels" in result:
        mode = "stereo" if result.get("aux_engaged") else "mono"
        rows[f"network ({mode}, SGBM pixels)"] = result["network_same_pixels"]
        rows[f"network ({mode}, all pixels)"] = result["network_all_pixels"]
    return rows


def _options(args: argparse.Namespace) -> dict[str, Any]:
    """Reader options from the command line (only those the data set takes)."""
    kitti = {"gt": args.gt, "gt_root": args.gt_root,
             "kb_crop": True if args.kb_crop is None else args.kb_crop}
    if args.dataset != "kitti":
        given = [f"--{k.replace('_', '-')}" for k in ("gt", "gt_root", "kb_crop")
                 if getattr(args, k) is not None]
        if given:
            raise ValueError(f"{', '.join(given)} apply to --dataset kitti only")
        kitti = {}
    crop = "garg" if args.garg_crop else args.crop
    if args.garg_crop and args.crop not in (None, "garg", "auto"):
        raise ValueError(f"--garg-crop contradicts --crop {args.crop}")
    return {**kitti, "eval_crop": crop}


def _check(args: argparse.Namespace) -> None:
    if args.data is None:
        raise ValueError("--data DIR (or --data-root DIR) is required")
    if args.predictions is not None and (args.model or args.sgbm or args.backend):
        raise ValueError("--predictions scores saved depth maps: drop --model / --sgbm / "
                         "--backend")
    if not args.sgbm and not args.model and args.predictions is None:
        raise ValueError("--model is required (or use --sgbm for the OpenCV SGBM baseline, or "
                         "--predictions DIR for saved depth maps)")
    if args.backend is not None and args.sgbm and not args.model:
        raise ValueError("--backend with --sgbm runs the network beside SGBM: give --model too")
    if args.backend == "tensorrt" and not args.engine:
        raise ValueError("--backend tensorrt needs --engine FILE")
    if args.max_depth is not None and not args.max_depth > 1e-3:
        raise ValueError(f"--max-depth must be > 0.001, got {args.max_depth}")
    if args.min_depth is not None and not 0 < args.min_depth < (args.max_depth or 1e9):
        raise ValueError(f"--min-depth must be > 0 and below --max-depth, got {args.min_depth}")


def run(args: argparse.Namespace) -> int:
    """Evaluate and report; user errors raise ValueError / FileNotFoundError (exit 2)."""
    _check(args)
    options = _options(args)
    from iid_rdepth_ros.evaluation.report import markdown_table, print_table, write_json

    progress = not args.no_progress
    if args.sgbm:
        from iid_rdepth_ros.bench.evaluate_sgbm import evaluate_sgbm

        result = evaluate_sgbm(args.data, args.model, True if args.aux is None else args.aux,
                               args.steps, args.batch_size, args.threads, progress,
                               frames=args.frames, near_m=args.near,
                               max_depth=args.max_depth or 80.0,
                               min_depth=args.min_depth or 1e-3, garg_crop=args.garg_crop,
                               device=args.device, dataset=args.dataset, split=args.split,
                               options=options, backend=args.backend,
                               engine_path=args.engine)
    else:
        from iid_rdepth_ros.bench.evaluate import evaluate

        result = evaluate(args.model, args.data, args.aux, args.steps, args.batch_size,
                          args.threads, progress, frames=args.frames, min_depth=args.min_depth,
                          max_depth=args.max_depth, device=args.device,
                          backend=args.backend, engine_path=args.engine, dataset=args.dataset,
                          split=args.split, options=options, predictions=args.predictions,
                          save_predictions=args.save_predictions)
        if args.save_predictions:
            print(f"predictions: {args.save_predictions}")
    rows = _rows(result, args)
    names = {"synth": "synth-street", "kitti": "KITTI", "nyu": "NYU Depth v2",
             "folder": "folder", "middlebury": "Middlebury"}
    split = result.get("data", {}).get("split")
    title = (f"{names[args.dataset]} {args.data}{f' ({split})' if split else ''}, "
             f"{result['frames']} frames")
    if args.model:
        title += f", model {args.model}"
    elif args.predictions:
        title += f", predictions {args.predictions}"
    print_table(rows, title=title)
    if args.json:
        print(f"JSON: {write_json(args.json, result)}")
    if args.markdown:
        from pathlib import Path

        path = Path(args.markdown)
        path.parent.mkdir(parents=True, exist_ok=True)
        proto = result["protocol"]
        if args.dataset == "synth":
            notes = [f"data: {args.data} (synth-street, seed {result['data'].get('seed')}; "
                     "not KITTI)",
                     f"dense ground truth, sky excluded, {proto['min_depth']:g}.."
                     f"{proto['max_depth']:g} m, no median scaling, mean of per-frame metrics"]
        else:
            notes = [f"data: {names[args.dataset]} {args.data}, split {split}, ground truth: "
                     f"{result['data'].get('ground_truth')}",
                     f"{proto['min_depth']:g}..{proto['max_depth']:g} m, crop "
                     f"{proto.get('eval_crop')}"
                     + (f", KB crop {'on' if proto['kb_crop'] else 'off'}"
                        if proto.get("kb_crop") is not None else "")
                     + ", no median scaling, mean of per-frame metrics"]
        if args.sgbm:
            notes.append(f"SGBM coverage: {100 * result['coverage']:.1f} % of valid "
                         "ground-truth pixels")
        path.write_text(markdown_table(rows, title=title, notes=notes))
        print(f"Markdown: {path}")
    return 0
