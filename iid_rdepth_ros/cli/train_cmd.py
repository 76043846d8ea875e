"""``iid-rdepth train``: two-stage training (see training/train.py and configs/default.yaml)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

RESOLVED_CONFIG = "config.yaml"


def add_parser(subparsers: Any) -> None:
    """Register ``train``."""
    p = subparsers.add_parser(
        "train", help="train the network (stage 1 baseline, stage 2 full model, or both)",
        description="Train IID-RDepth. Settings come from the shipped default config, an "
                    "optional --config YAML, then --set KEY=VALUE overrides, then the "
                    "shortcut options below. Writes checkpoints, a resume state and the "
                    "resolved config under --out.",
        epilog="Equal-budget ablation in one run: --stage both --steps1 N1+N2 --snapshot-at N1 "
               "--steps2 N2 --set stage2.init_from=snapshot --set stage1.schedule=constant "
               "trains the baseline for N1+N2 steps (stage1.*) and the full model from its "
               "step-N1 snapshot for N2 steps (stage2.*).")
    p.add_argument("--config", type=Path, metavar="YAML", help="config file (partial is fine)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="dotted override, e.g. --set stage2.steps=500 (repeatable)")
    p.add_argument("--stage", choices=("1", "2", "both"), help="which stage(s) to train")
    p.add_argument("--train-dir", metavar="DIR", help="training data (data.train)")
    p.add_argument("--val-dir", metavar="DIR", help="validation data (data.val; 'none' = off)")
    p.add_argument("--out", metavar="DIR", help="output directory (out_dir)")
    p.add_argument("--preset", help="model preset (e.g. lite0-192x640)")
    p.add_argument("--init-from", metavar="CKPT",
                   help="stage-1 checkpoint that stage 2 starts from (stage2.init_from)")
    p.add_argument("--snapshot-at", type=int, metavar="N",
                   help="also save a stage-1 checkpoint at step N (stage1.snapshot_at)")
    p.add_argument("--steps1", type=int, metavar="N", help="stage-1 steps (stage1.steps)")
    p.add_argument("--steps2", type=int, metavar="N", help="stage-2 steps (stage2.steps)")
    p.add_argument("--batch-size", type=int, metavar="B")
    p.add_argument("--threads", type=int, metavar="N", help="torch CPU threads (num_threads)")
    p.add_argument("--device", help="cpu (default), cuda, cuda:N or auto")
    p.add_argument("--cache", choices=("off", "memory", "disk"), help="encoder feature cache")
    p.add_argument("--seed", type=int)
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last resume state (uses the "
                        "config saved there; --set still applies on top)")
    p.add_argument("--stop-after", type=int, metavar="N",
                   help="stop after N optimisation steps in this invocation (resume later)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _shortcuts(args: argparse.Namespace) -> list[str]:
    pairs = {
        "stage": args.stage, "data.train": args.train_dir, "out_dir": args.out,
        "preset": args.preset, "stage2.init_from": args.init_from,
        "stage1.snapshot_at": args.snapshot_at, "stage1.steps": args.steps1,
        "stage2.steps": args.steps2, "batch_size": args.batch_size,
        "num_threads": args.threads, "cache.mode": args.cache, "seed": args.seed,
        "device": args.device,
    }
    out = [f"{k}={json.dumps(v) if not isinstance(v, str) else v}"
           for k, v in pairs.items() if v is not None]
    if args.val_dir is not None:
        out.append("data.val=" + ("null" if args.val_dir.lower() == "none" else args.val_dir))
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
    for key in ("train", "val"):
        path = getattr(cfg.data, key)
        if path is not None and not Path(path).is_dir():
            raise FileNotFoundError(
                f"data.{key} directory not found: {path} (make one with 'iid-rdepth synth')")
    from iid_rdepth_ros.training.train import train

    result = train(cfg, resume=args.resume, stop_after=args.stop_after,
                   command=getattr(args, "command_line", None))
    for name, path in result.get("checkpoints", {}).items():
        print(f"{name}: {path}")
    if result.get("stopped_early"):
        print(f"stopped at step {result['step']} of stage {result['stage']}; continue with "
              f"'iid-rdepth train --resume --out {cfg.out_dir}'")
    return 0
