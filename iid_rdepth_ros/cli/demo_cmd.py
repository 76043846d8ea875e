"""``iid-rdepth demo``: the model on a fresh synth-street sequence, mono vs stereo vs SGBM."""

from __future__ import annotations

import argparse
from typing import Any


def _positive(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return n


def add_parser(subparsers: Any) -> None:
    """Register ``demo``."""
    p = subparsers.add_parser(
        "demo",
        help="run the model on a generated stereo sequence; write depth maps, errors, a point "
             "cloud and a metrics table",
        description="Generate a small synth-street stereo sequence (seed 9001, never used for "
                    "training), run the model mono and stereo and OpenCV SGBM on it, and write "
                    "fixed-range depth colormaps, AbsRel error maps, a coloured .ply point "
                    "cloud, plots and a metrics table (JSON + Markdown) under --out.")
    p.add_argument("--out", default="out/demo", metavar="DIR",
                   help="output directory (default out/demo)")
    p.add_argument("--frames", type=_positive, default=10, metavar="N",
                   help="frames to generate and evaluate (default 10)")
    p.add_argument("--model", default="default", metavar="NAME_OR_PATH",
                   help="'default', 'baseline' or a checkpoint path")
    p.add_argument("--steps", type=_positive, default=None, metavar="T",
                   help="diffusion steps T (default: the model's)")
    p.add_argument("--threads", type=_positive, default=None, metavar="N",
                   help="torch intra-op threads")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    """Run the demo and print where everything is."""
    from iid_rdepth_ros.training.demo import run_demo
    from iid_rdepth_ros.training.report import print_table

    result = run_demo(args.out, frames=args.frames, model=args.model, steps=args.steps,
                      num_threads=args.threads, progress=not args.no_progress)
    print_table(result["methods"], title=f"demo: {result['data']['frames']} frames, "
                                         f"synth-street seed {result['data']['seed']}")
    p = result["paths"]
    t = result["timing"]
    print(f"CPU ms/frame: mono {t['mono_ms_per_frame']}, stereo {t['stereo_ms_per_frame']}, "
          f"SGBM {t['sgbm_ms_per_frame']} (total {t['total_s']} s)")
    print(f"data:         {result['data']['dir']}")
    print(f"metrics:      {p['metrics_json']}  {p['metrics_md']}")
    print(f"overview:     {p['overview']}")
    print(f"per-frame:    {p['per_frame']}")
    print(f"depth maps:   {len(p['depth'])} PNGs in {args.out}/depth/")
    print(f"error maps:   {len(p['error'])} PNGs in {args.out}/error/")
    print(f"point cloud:  {p['cloud']}  (ground truth: {p['cloud_gt']})")
    return 0
