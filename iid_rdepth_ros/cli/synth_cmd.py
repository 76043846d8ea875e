"""``iid-rdepth synth``: write a synth-street data set (format in docs/interfaces.md), or a
rosbag2 drive (``--bag``; topics in ``iid_rdepth_ros/bag/synth_bag.py``).

``--mode`` picks the data (``iid_rdepth_ros.synth.config.MODES``): ``street`` (the original
street data, default), ``geometry`` (training mix of street and near-range scenes, random
cameras, photometric differences, vertical misalignment) and the held-out test splits
``test-mixed`` and ``test-near``. ``--focal``, ``--baseline`` (and ``--height``/``--width``
outside the street mode) override parts of every sequence's camera: the same seed and mode with
two overrides render the same scenes through two cameras."""

from __future__ import annotations

import argparse
from typing import Any

from iid_rdepth_ros.cli.arg_types import (
    image_side,
    image_size,
    non_negative_int,
    output_dir,
    positive_int,
)

MODE_NAMES = ("street", "geometry", "test-mixed", "test-near")  # = synth.config.MODES


def positive_float(text: str) -> float:
    """A finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def add_parser(subparsers: Any) -> None:
    """Register ``synth``."""
    p = subparsers.add_parser(
        "synth",
        help="generate a synth-street stereo data set (or a rosbag2 drive) with exact depth",
        description="Render rectified stereo scenes with dense depth and sparse LiDAR-like "
                    "ground truth: street scenes through a KITTI-like camera (0.54 m baseline) "
                    "by default, or with --mode a mix of street and near-range scenes (rooms, "
                    "corridors, floating objects) through random cameras. The same arguments "
                    "always give identical files.")
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
    p.add_argument("--mode", choices=MODE_NAMES, default="street",
                   help="what to render: street (the original data, default), geometry "
                        "(training mix: random cameras, street + near-range scenes, "
                        "photometric differences), test-mixed / test-near (held-out test "
                        "splits; never the same scenes as geometry for any seed)")
    p.add_argument("--height", type=image_side, default=None, metavar="H",
                   help="image height, up to 4096 (street mode: default 192; other modes: "
                        "overrides the random image size, with --width)")
    p.add_argument("--width", type=image_side, default=None, metavar="W",
                   help="image width, up to 4096 (street mode: default 640; other modes: with "
                        "--height)")
    p.add_argument("--focal", type=positive_float, default=None, metavar="PX",
                   help="override the focal length of every sequence's camera (pixels)")
    p.add_argument("--baseline", type=positive_float, default=None, metavar="M",
                   help="override the stereo baseline of every sequence's camera (metres)")
    p.add_argument("--workers", type=positive_int, default=1, metavar="N",
                   help="render in N processes (same files for any N; default 1)")
    p.add_argument("--sequence-length", type=positive_int, default=20, metavar="L",
                   help="frames per street sequence (camera moving along it; default 20)")
    p.add_argument("--scene-scale", type=positive_float, default=None, metavar="S",
                   help="--bag only: scale the scene by S (depths and baseline times S, same "
                        "images; 0.1 makes a 0.2-8 m miniature street)")
    p.add_argument("--crop", type=image_size, default=None, metavar="HxW",
                   help="--bag only: centre-crop the images to HxW (same focal in pixels, "
                        "smaller field of view)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing synth-street data set (or bag) at the output")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Generate the data set (or bag) and print a one-line summary."""
    if not args.bag and (args.scene_scale is not None or args.crop is not None):
        raise ValueError("--scene-scale and --crop apply to --bag only")
    custom = args.mode != "street" or args.focal is not None or args.baseline is not None
    if args.bag and custom:
        raise ValueError("--bag writes the street mode with its fixed camera only; --mode, "
                         "--focal and --baseline need --out")
    street_mode = args.mode == "street"
    if not street_mode and (args.height is None) != (args.width is None):
        raise ValueError(f"--mode {args.mode}: give both --height and --width to override the "
                         "image size, or neither")
    height = args.height or 192
    width = args.width or 640
    if args.bag:
        from iid_rdepth_ros.bag.synth_bag import write_synth_bag

        bag = write_synth_bag(args.bag, args.frames, args.seed, height=height,
                              width=width, sequence_length=args.sequence_length,
                              storage=args.format, progress=not args.no_progress,
                              overwrite=args.overwrite, scene_scale=args.scene_scale or 1.0,
                              crop=args.crop)
        print(f"wrote a {bag.storage} rosbag2 of {bag.frames} frames to {bag.path} in "
              f"{bag.seconds:.1f} s ({bag.lidar_points} LiDAR points); topics: "
              + ", ".join(bag.topics.values()))
        return 0
    from iid_rdepth_ros.synth import CameraOverride, generate, get_mode

    override = None
    if custom:
        size = {} if street_mode or args.height is None else {"height": args.height,
                                                              "width": args.width}
        override = CameraOverride(focal_px=args.focal, baseline_m=args.baseline, **size)
        if override == CameraOverride():
            override = None
    summary = generate(args.out, args.frames, args.seed, height=height, width=width,
                       sequence_length=args.sequence_length, progress=not args.no_progress,
                       overwrite=args.overwrite, config=get_mode(args.mode), camera=override,
                       workers=args.workers)
    print(f"wrote {summary.frames} frames ({summary.format}, mode {args.mode}) to "
          f"{summary.out_dir} in {summary.seconds:.1f} s ({summary.ms_per_frame:.0f} ms/frame "
          f"with {summary.workers} worker(s), LiDAR coverage "
          f"{100 * summary.lidar_coverage:.1f} %)")
    return 0
