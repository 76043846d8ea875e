"""``iid-rdepth synth``: write a synth-street data set (format in docs/interfaces.md), or a
rosbag2 drive (``--bag``; topics in ``iid_rdepth_ros/bag/synth_bag.py``)."""

from __future__ import annotations

import argparse
from typing import Any

from iid_rdepth_ros.cli.arg_types import image_side, non_negative_int, output_dir, positive_int


def add_parser(subparsers: Any) -> None:
    """Register ``synth``."""
    p = subparsers.add_parser(
        "synth",
        help="generate a synth-street stereo data set (or a rosbag2 drive) with exact depth",
        description="Render rectified stereo street scenes with dense depth and sparse "
                    "LiDAR-like ground truth (KITTI-like intrinsics, 0.54 m baseline). The same "
                    "arguments always give identical files.")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", type=output_dir, metavar="DIR",
                       help="output directory (new or empty)")
    where.add_argument("--bag", type=output_dir, metavar="OUT",
                       help="write a rosbag2 instead: stereo images + CameraInfo, dense depth "
                            "(32FC1), a LiDAR PointCloud2 in its own frame and /tf_static")
    p.add_argument("--format", choices=("mcap", "sqlite3"), default="mcap",
                   help="rosbag2 storage for --bag (default mcap)")
    p.add_argument("--frames", type=positive_int, default=100, metavar="N",
                   help="number of frames (default 100)")
    p.add_argument("--seed", type=non_negative_int, default=0, metavar="S", help="random seed")
    p.add_argument("--height", type=image_side, default=192, metavar="H",
                   help="image height, up to 4096 (default 192)")
    p.add_argument("--width", type=image_side, default=640, metavar="W",
                   help="image width, up to 4096 (default 640)")
    p.add_argument("--sequence-length", type=positive_int, default=20, metavar="L",
                   help="frames per street sequence (camera moving along it; default 20)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing synth-street data set (or bag) at the output")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Generate the data set (or bag) and print a one-line summary."""
    if args.bag:
        from iid_rdepth_ros.bag.synth_bag import write_synth_bag

        bag = write_synth_bag(args.bag, args.frames, args.seed, height=args.height,
                              width=args.width, sequence_length=args.sequence_length,
                              storage=args.format, progress=not args.no_progress,
                              overwrite=args.overwrite)
        print(f"wrote a {bag.storage} rosbag2 of {bag.frames} frames to {bag.path} in "
              f"{bag.seconds:.1f} s ({bag.lidar_points} LiDAR points); topics: "
              + ", ".join(bag.topics.values()))
        return 0
    from iid_rdepth_ros.synth import generate

    summary = generate(args.out, args.frames, args.seed, height=args.height, width=args.width,
                       sequence_length=args.sequence_length, progress=not args.no_progress,
                       overwrite=args.overwrite)
    print(f"wrote {summary.frames} frames to {summary.out_dir} in {summary.seconds:.1f} s "
          f"({summary.ms_per_frame:.0f} ms/frame, LiDAR coverage "
          f"{100 * summary.lidar_coverage:.1f} % below the horizon)")
    return 0
