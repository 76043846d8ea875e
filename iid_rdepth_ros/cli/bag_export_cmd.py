"""``iid-rdepth bag-export``: a robot's rosbag2 as a training set (the generic folder layout)."""

from __future__ import annotations

import argparse
from typing import Any

from iid_rdepth_ros.cli.arg_types import positive_int, seconds


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}")
    return value


def add_parser(subparsers: Any) -> None:
    """Register ``bag-export``."""
    p = subparsers.add_parser(
        "bag-export", help="turn a rosbag2 (camera + LiDAR or depth) into a training set",
        description="Pair the bag's frames by stamp and project the LiDAR ground truth into "
                    "the camera exactly as eval-bag does (CameraInfo P and R, /tf_static, and "
                    "/tf where the static transforms do not link the frames), then write the "
                    "generic folder data set (images/, right/, depth/, intrinsics.yaml) that "
                    "'iid-rdepth train --dataset folder' reads. The validation part is the "
                    "last --val-fraction of the recording's time span (train.txt / val.txt), "
                    "with a --val-gap before it that is in neither list, so neighbouring "
                    "frames never sit on both sides; 'eval-bag --held-out DIR' scores exactly "
                    "that part of the bag.",
        epilog="Example: iid-rdepth bag-export robot_bag --image-topic /camera/left/image "
               "--camera-info-topic /camera/left/camera_info --gt-points-topic /lidar/points "
               "--out data/robot")
    p.add_argument("bag", metavar="BAG", help="rosbag2 directory (sqlite3 or mcap) or .mcap")
    t = p.add_argument_group("topics (as recorded; see 'ros2 bag info BAG')")
    t.add_argument("--image-topic", required=True, metavar="T",
                   help="main (left) camera image, rectified")
    t.add_argument("--camera-info-topic", required=True, metavar="T", help="its CameraInfo")
    t.add_argument("--aux-image-topic", metavar="T", help="rectified right image (stereo)")
    t.add_argument("--aux-camera-info-topic", metavar="T",
                   help="its CameraInfo (baseline from P[3] = -fx*B)")
    gt = t.add_mutually_exclusive_group(required=True)
    gt.add_argument("--gt-points-topic", metavar="T", help="LiDAR PointCloud2 (ground truth)")
    gt.add_argument("--gt-depth-topic", metavar="T", help="depth image (32FC1 metres or "
                    "16UC1 millimetres; 0/NaN = none) at the image's size")
    t.add_argument("--tf-static-topic", default="/tf_static", metavar="T",
                   help="static transforms (default /tf_static)")
    t.add_argument("--tf-topic", default="/tf", metavar="T",
                   help="transforms used where the static ones do not link the LiDAR to the "
                        "camera, evaluated at the image stamp (default /tf)")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory (new)")
    p.add_argument("--every", type=positive_int, default=1, metavar="N",
                   help="keep every N-th paired frame (default 1: all)")
    p.add_argument("--val-fraction", type=_fraction, default=0.2, metavar="F",
                   help="last share of the recording's time span held out for validation "
                        "(default 0.2; 0 = none)")
    p.add_argument("--val-gap", type=seconds, default=1.0, metavar="S",
                   help="seconds before the held-out part that go to neither list (default 1)")
    p.add_argument("--max-frames", type=positive_int, default=None, metavar="N",
                   help="stop after writing N frames")
    p.add_argument("--depth-format", choices=("png", "npy"), default="png",
                   help="16-bit PNG (default) or float32 .npy metres")
    p.add_argument("--depth-unit", choices=("mm", "1/256"), default="mm",
                   help="PNG unit: mm (up to 65.5 m, default) or 1/256 m (up to 256 m)")
    p.add_argument("--tolerance", type=seconds, default=0.005, metavar="S",
                   help="stamp tolerance between camera topics (default 0.005 s)")
    p.add_argument("--gt-tolerance", type=seconds, default=0.05, metavar="S",
                   help="stamp tolerance of the ground truth (default 0.05 s)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an earlier bag-export at --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Export and print what was written, what was skipped and why."""
    from iid_rdepth_ros.bag.export import ExportOptions, export_bag
    from iid_rdepth_ros.cli.eval_bag_cmd import spec_from_args

    spec = spec_from_args(args)
    opts = ExportOptions(every=args.every, val_fraction=args.val_fraction,
                         val_gap=args.val_gap, max_frames=args.max_frames,
                         depth_format=args.depth_format, depth_unit=args.depth_unit,
                         tolerance=args.tolerance, gt_tolerance=args.gt_tolerance,
                         overwrite=args.overwrite, progress=not args.no_progress,
                         command=args.command_line)
    s = export_bag(args.bag, spec, args.out, opts)
    rec = s.record
    print(f"wrote {s.written} frames to {s.out} in {s.seconds:.1f} s: {s.train} train, "
          f"{s.val} val, {s.gap} in the gap between them "
          f"({rec['frames']['images']} images, {rec['frames']['paired']} paired)")
    if s.skipped:
        print("skipped: " + "; ".join(f"{n} {why}" for why, n in sorted(s.skipped.items())))
    d = s.density
    print(f"ground truth: {100 * d['mean']:.2f} % of pixels per frame on average "
          f"(min {100 * d['min']:.2f} %, max {100 * d['max']:.2f} %; "
          f"{d['pixels_mean']:.0f} pixels), |image - ground-truth stamp| mean "
          f"{rec['gt_stamp_difference_ms']['mean']:.1f} ms, max "
          f"{rec['gt_stamp_difference_ms']['max']:.1f} ms")
    beyond = rec["depth"]["beyond_unit_range"]
    if beyond:
        print(f"warning: {beyond} measurements beyond the 16-bit range of --depth-unit "
              f"{args.depth_unit} were written as 0 (use --depth-unit 1/256 or "
              "--depth-format npy)")
    if s.window["val_start_s"] is not None:
        print(f"held out: stamps from {s.window['val_start_s']:.3f} s after the first image "
              f"(train ends at {s.window['train_end_s']:.3f} s); score exactly that part with "
              f"'iid-rdepth eval-bag {args.bag} ... --held-out {s.out}'")
    return 0
