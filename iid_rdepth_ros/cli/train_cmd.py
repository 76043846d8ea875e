"""``iid-rdepth train``: two-stage training (see training/train.py and configs/default.yaml).

Runs unchanged under torchrun for data-parallel training (``torchrun --nproc_per_node N -m
iid_rdepth_ros.cli.train_ddp [these options]``); only rank 0 prints and writes."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from iid_rdepth_ros.cli.arg_types import output_dir, positive_int, threads

RESOLVED_CONFIG = "config.yaml"


def add_parser(subparsers: Any) -> None:
    """Register ``train``."""
    p = subparsers.add_parser(
        "train", help="train the network (stage 1 baseline, stage 2 full model, or both)",
        description="Train IID-RDepth. Settings come from the shipped default config, an "
                    "optional --config YAML, then --set KEY=VALUE overrides, then the "
                    "shortcut options below. Writes checkpoints, a resume state and the "
                    "resolved config under --out.",
        epilog="Data: --dataset kitti --data-root KITTI [--split eigen_train] [--val-split "
               "eigen_val] [--gt-root DIR]; --dataset nyu --data-root nyu_depth_v2_labeled.mat; "
               "--dataset folder --data-root DIR (docs/training_on_your_data.md). Fine-tune the "
               "shipped model on your robot's data: --init-from default --set "
               "stage2.trainable=decoder [--depth-range 0.3 10] (README: Fine-tune on your "
               "robot). Several GPUs: "
               "torchrun --nproc_per_node N -m iid_rdepth_ros.cli.train_ddp [options] "
               "(--batch-size is the global batch). Equal-budget ablation in one run: --stage "
               "both --steps1 N1+N2 --snapshot-at N1 --steps2 N2 --set stage2.init_from=snapshot "
               "--set stage1.schedule=constant trains the baseline for N1+N2 steps (stage1.*) "
               "and the full model from its step-N1 snapshot for N2 steps (stage2.*).")
    p.add_argument("--config", type=Path, metavar="YAML", help="config file (partial is fine)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="dotted override, e.g. --set stage2.steps=500 (repeatable)")
    p.add_argument("--stage", choices=("1", "2", "both"), help="which stage(s) to train")
    p.add_argument("--dataset", choices=("synth", "kitti", "nyu", "folder"),
                   help="data set kind (data.dataset; default synth)")
    p.add_argument("--data-root", metavar="DIR", help="data root of kitti / nyu / folder "
                   "(data.root; nyu: the folder or the labeled .mat)")
    p.add_argument("--split", metavar="NAME|FILE",
                   help="training split (data.train; kitti default eigen_train, nyu train, "
                        "folder all)")
    p.add_argument("--val-split", metavar="NAME|FILE",
                   help="validation split (data.val; 'none' = off; kitti default eigen_val, "
                        "nyu test)")
    p.add_argument("--gt", choices=("auto", "annotated", "velodyne"),
                   help="kitti ground truth (data.gt)")
    p.add_argument("--gt-root", metavar="DIR", help="kitti annotated depth root (data.gt_root)")
    p.add_argument("--kb-crop", choices=("on", "off"),
                   help="kitti 352x1216 KB crop (data.kb_crop; default on)")
    p.add_argument("--train-dir", metavar="DIR", help="synth-street training data (data.train)")
    p.add_argument("--val-dir", metavar="DIR",
                   help="synth-street validation data (data.val; 'none' = off)")
    p.add_argument("--out", type=output_dir, metavar="DIR", help="output directory (out_dir)")
    p.add_argument("--preset", help="model preset (e.g. lite0-192x640)")
    p.add_argument("--init-from", metavar="CKPT",
                   help="stage-1 checkpoint that stage 2 starts from, or a full model to "
                        "fine-tune: 'default' or a stage-2 checkpoint (stage2.init_from; "
                        "implies --stage 2 unless --stage is given)")
    p.add_argument("--depth-range", type=float, nargs=2, metavar=("MIN", "MAX"),
                   help="depth range in metres of the model's bins and of the loss "
                        "(model.min_depth/max_depth and data.min_depth/max_depth), e.g. "
                        "0.3 10 for an indoor robot")
    p.add_argument("--snapshot-at", type=int, metavar="N",
                   help="also save a stage-1 checkpoint at step N (stage1.snapshot_at)")
    p.add_argument("--steps1", type=positive_int, metavar="N",
                   help="stage-1 steps (stage1.steps)")
    p.add_argument("--steps2", type=positive_int, metavar="N",
                   help="stage-2 steps (stage2.steps)")
    p.add_argument("--batch-size", type=positive_int, metavar="B")
    p.add_argument("--threads", type=threads, metavar="N",
                   help="torch CPU threads (num_threads)")
    p.add_argument("--device", help="cpu (default), cuda, cuda:N or auto")
    p.add_argument("--cache", choices=("off", "memory", "disk"), help="encoder feature cache")
    p.add_argument("--workers", type=int, metavar="N",
                   help="frame-reading worker processes with --cache off (data.workers)")
    p.add_argument("--amp", choices=("off", "bf16", "fp16"),
                   help="mixed precision (fp16: CUDA only, with a GradScaler)")
    p.add_argument("--seed", type=int)
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last resume state (uses the "
                        "config saved there; --set still applies on top)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the training run or checkpoints already in --out (without "
                        "it a run refuses a folder holding them)")
    p.add_argument("--stop-after", type=int, metavar="N",
                   help="stop after N optimisation steps in this invocation (resume later)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _shortcuts(args: argparse.Namespace) -> list[str]:
    pairs = {
        "stage": args.stage, "data.train": args.train_dir,
        "out_dir": None if args.out is None else str(args.out),
        "preset": args.preset, "stage2.init_from": args.init_from,
        "stage1.snapshot_at": args.snapshot_at, "stage1.steps": args.steps1,
        "stage2.steps": args.steps2, "batch_size": args.batch_size,
        "num_threads": args.threads, "cache.mode": args.cache, "seed": args.seed,
        "device": args.device, "data.dataset": args.dataset, "data.root": args.data_root,
        "data.gt": args.gt, "data.gt_root": args.gt_root, "data.workers": args.workers,
        "amp": args.amp,
    }
    if args.split is not None and args.train_dir is not None:
        raise ValueError("--split and --train-dir both set data.train: give one")
    if args.val_split is not None and args.val_dir is not None:
        raise ValueError("--val-split and --val-dir both set data.val: give one")
    if args.stage is None and args.init_from is not None:
        pairs["stage"] = "2"  # a checkpoint to start from: stage 2 (fine-tune or stage 1 given)
    if args.depth_range is not None:
        lo, hi = args.depth_range
        if not 0 < lo < hi:
            raise ValueError(f"--depth-range needs 0 < MIN < MAX, got {lo:g} {hi:g}")
        for part in ("model", "data"):
            pairs[f"{part}.min_depth"], pairs[f"{part}.max_depth"] = lo, hi
    if args.split is not None:
        pairs["data.train"] = args.split
    if args.kb_crop is not None:
        pairs["data.kb_crop"] = args.kb_crop == "on"
    out = [f"{k}={json.dumps(v) if not isinstance(v, str) else v}"
           for k, v in pairs.items() if v is not None]
    val = args.val_dir if args.val_dir is not None else args.val_split
    if val is not None:
        out.append("data.val=" + ("null" if val.lower() == "none" else val))
    if args.no_progress:
        out.append("progress=false")
    return out


def resolve(args: argparse.Namespace) -> Any:
    """The TrainConfig this command line asks for (raises ValueError on bad settings)."""
    from iid_rdepth_ros.training.config import load_config

    overrides = list(args.overrides) + _shortcuts(args)
    if not args.resume:
        return load_config(args.config, overrides)
    if args.config is not None:
        raise ValueError("--resume reuses the config saved in the run directory; drop --config")
    if args.out is None:
        raise ValueError("--resume needs --out DIR (the run to continue)")
    saved = Path(args.out) / RESOLVED_CONFIG
    if not saved.is_file():
        raise FileNotFoundError(f"nothing to resume: {saved} does not exist")
    return load_config(saved, overrides)


def run(args: argparse.Namespace) -> int:
    """Train and print where the results went."""
    if args.stop_after is not None and args.stop_after < 1:
        raise ValueError("--stop-after must be >= 1")
    cfg = resolve(args)
    if cfg.data.dataset == "synth":
        for key in ("train", "val"):
            path = getattr(cfg.data, key)
            if path is not None and cfg.data.root is not None:
                path = str(Path(cfg.data.root) / path)
            if path is not None and not Path(path).is_dir():
                raise FileNotFoundError(
                    f"data.{key} directory not found: {path} (make one with 'iid-rdepth synth')")
    elif not Path(cfg.data.root).exists():
        raise FileNotFoundError(f"data.root not found: {cfg.data.root}")
    from iid_rdepth_ros.artifacts.files import check_output_dir

    check_output_dir(cfg.out_dir)  # out_dir may come from a config file: checked here
    if cfg.cache.mode == "disk" and cfg.cache.dir is not None:
        check_output_dir(cfg.cache.dir)
    if args.resume and args.overwrite:
        raise ValueError("--resume continues the run in --out, --overwrite replaces it: "
                         "give one")
    from iid_rdepth_ros.training.train import train

    result = train(cfg, resume=args.resume, stop_after=args.stop_after,
                   command=getattr(args, "command_line", None), overwrite=args.overwrite)
    if result.get("rank", 0) != 0:
        return 0
    for name, path in result.get("checkpoints", {}).items():
        print(f"{name}: {path}")
    if result.get("stopped_early"):
        print(f"stopped at step {result['step']} of stage {result['stage']}; continue with "
              f"'iid-rdepth train --resume --out {cfg.out_dir}'")
    return 0
