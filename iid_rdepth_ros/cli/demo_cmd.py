"""``iid-rdepth demo``: the whole pipeline on a fresh synth-street sequence.

Offline (the model mono and stereo vs OpenCV SGBM), then the main job: the sequence written as a
rosbag2, ``iid_rdepth_node`` started as its own process, the bag replayed to it over DDS and
its output scored live; ``report.md`` under ``--out`` puts it together."""

from __future__ import annotations

import argparse
from typing import Any

from iid_rdepth_ros.cli.arg_types import diffusion_steps, output_dir, positive_int, threads


def add_parser(subparsers: Any) -> None:
    """Register ``demo``."""
    p = subparsers.add_parser(
        "demo",
        help="run the whole pipeline on a generated stereo sequence: offline metrics, then a "
             "rosbag replayed through the real node; writes report.md",
        description="Generate a small synth-street stereo sequence (seed 9001, never used for "
                    "training); run the model mono and stereo and OpenCV SGBM on it (depth "
                    "colormaps, AbsRel error maps, .ply clouds, metrics table); then write it as "
                    "a rosbag2, start iid_rdepth_node in its own process, replay the bag to it "
                    "over DDS and score what it publishes (eval-bag --live), next to the "
                    "offline runtime on the same bag. Everything, with report.md, under --out.")
    p.add_argument("--out", type=output_dir, default="out/demo", metavar="DIR",
                   help="output directory (default out/demo)")
    p.add_argument("--frames", type=positive_int, default=20, metavar="N",
                   help="frames to generate and evaluate (default 20: 2 s at 10 Hz)")
    p.add_argument("--model", default="default", metavar="NAME_OR_PATH",
                   help="'default', 'baseline' or a checkpoint path")
    p.add_argument("--steps", type=diffusion_steps, default=None, metavar="T",
                   help="diffusion steps T, 1..64 (default: the model's)")
    p.add_argument("--threads", type=threads, default=None, metavar="N",
                   help="torch intra-op threads")
    p.add_argument("--backend", choices=("auto", "onnxruntime", "torch", "tensorrt"),
                   default="auto", help="runtime backend of the node and the offline bag "
                                        "evaluation (default auto, as the node)")
    p.add_argument("--rate", type=float, default=1.0, metavar="R",
                   help="replay speed factor (default 1.0 = the recorded 10 Hz)")
    p.add_argument("--domain-id", type=int, default=None, metavar="ID",
                   help="ROS_DOMAIN_ID of the node and replay (default: the environment's)")
    p.add_argument("--no-live", action="store_true",
                   help="offline part only (no bag, node or DDS)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    """Run the demo and print where everything is."""
    from iid_rdepth_ros.demo.offline import DEMO_SEED, run_demo
    from iid_rdepth_ros.demo.report import write_demo_report
    from iid_rdepth_ros.evaluation.report import print_table

    if not args.rate > 0:
        raise ValueError(f"--rate must be > 0, got {args.rate}")
    result = run_demo(args.out, frames=args.frames, model=args.model, steps=args.steps,
                      num_threads=args.threads, progress=not args.no_progress)
    live = None
    if not args.no_live:
        from iid_rdepth_ros.demo.live import run_live_demo

        live = run_live_demo(args.out, args.frames, DEMO_SEED, args.model, args.backend,
                             args.rate, args.steps, args.threads, args.domain_id,
                             progress=not args.no_progress)
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
    if live is not None:
        f = live["live"]["frames"]
        rows = {"node (live)": live["live"]["metrics"],
                "runtime offline, same frames": live["comparison"].get("offline_same_frames",
                                                                       {}),
                "runtime offline, all frames": live["offline"]["metrics"]}
        print_table(rows, title=f"live: {f['evaluated']} of {f['expected']} frames published by "
                                f"the node, {f['dropped']} dropped")
        lat = live["live"]["latency"]
        print(f"node latency ms (end to end): p50 {lat['p50_ms']}, p95 {lat['p95_ms']}")
        print(f"bag:          {live['bag']['path']}")
    report = write_demo_report(args.out, result, live, args.command_line)
    print(f"report:       {report}")
    return 0
