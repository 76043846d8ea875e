"""``iid-rdepth eval-bag``: evaluate depth on a recorded rosbag2 (offline, or a live node)."""

from __future__ import annotations

import argparse
from typing import Any

from iid_rdepth_ros.cli.arg_types import (
    diffusion_steps,
    network_size,
    output_dir,
    positive_int,
    seconds,
    threads,
)


def add_parser(subparsers: Any) -> None:
    """Register ``eval-bag``."""
    p = subparsers.add_parser(
        "eval-bag", help="evaluate depth on a recorded rosbag2 (sqlite3/mcap), offline or live",
        description="Pair the bag's frames by stamp, run them through the node's runtime and "
                    "score them against a depth-image or LiDAR ground truth (the LiDAR cloud "
                    "is projected with CameraInfo and the bag's /tf_static). Writes per-frame "
                    "and overall metrics (JSON + Markdown), latency statistics and plots. "
                    "--live instead scores what a running iid_rdepth_node publishes on "
                    "depth/image while the bag is replayed (ros2 bag play, or --play), "
                    "counting the frames it dropped.")
    p.add_argument("bag", metavar="BAG", help="rosbag2 directory (or a .mcap file)")
    t = p.add_argument_group("topics (as recorded)")
    t.add_argument("--image-topic", required=True, metavar="T", help="main (left) image")
    t.add_argument("--camera-info-topic", required=True, metavar="T", help="its CameraInfo")
    t.add_argument("--aux-image-topic", metavar="T", help="rectified right image (stereo)")
    t.add_argument("--aux-camera-info-topic", metavar="T",
                   help="its CameraInfo (baseline from P[3] = -fx*B)")
    gt = t.add_mutually_exclusive_group(required=True)
    gt.add_argument("--gt-depth-topic", metavar="T", help="ground-truth depth image "
                    "(32FC1 metres or 16UC1 millimetres; 0/NaN = none)")
    gt.add_argument("--gt-points-topic", metavar="T", help="ground-truth LiDAR PointCloud2")
    t.add_argument("--tf-static-topic", default="/tf_static", metavar="T",
                   help="static transforms for --gt-points-topic (default /tf_static)")
    t.add_argument("--tf-topic", default="/tf", metavar="T",
                   help="transforms used where the static ones do not link the LiDAR to the "
                        "camera, evaluated at the image stamp (default /tf)")
    r = p.add_argument_group("model and runtime (offline)")
    r.add_argument("--backend", choices=("auto", "tensorrt", "onnxruntime", "torch"),
                   default="auto", help="as the node's backend parameter (default auto)")
    r.add_argument("--model", default="default", metavar="NAME_OR_PATH",
                   help="'default', 'baseline', a .safetensors checkpoint or an .onnx graph")
    r.add_argument("--engine", metavar="FILE", help="TensorRT engine (--backend tensorrt)")
    r.add_argument("--input-size", type=network_size, default=None, metavar="HxW",
                   help="network input size (default: the checkpoint's)")
    r.add_argument("--steps", type=diffusion_steps, default=None, metavar="T",
                   help="diffusion steps, 1..64 (default: the model's)")
    r.add_argument("--threads", type=threads, default=None, metavar="N", help="CPU threads")
    r.add_argument("--device", default="cpu", help="torch device: cpu, cuda:0, auto")
    s = p.add_argument_group("scoring")
    s.add_argument("--min-depth", type=float, default=1e-3, metavar="M")
    s.add_argument("--max-depth", type=float, default=80.0, metavar="M")
    s.add_argument("--garg-crop", action="store_true", help="apply the Garg crop")
    s.add_argument("--tolerance", type=seconds, default=0.005, metavar="S",
                   help="stamp tolerance between camera topics (default 0.005 s)")
    s.add_argument("--gt-tolerance", type=seconds, default=0.05, metavar="S",
                   help="stamp tolerance of the ground truth (default 0.05 s)")
    s.add_argument("--frames", type=positive_int, default=None, metavar="N",
                   help="only the first N images")
    s.add_argument("--start", type=seconds, default=None, metavar="S",
                   help="only frames stamped S seconds or more after the bag's first image")
    s.add_argument("--end", type=seconds, default=None, metavar="S",
                   help="only frames stamped less than S seconds after the bag's first image")
    s.add_argument("--held-out", metavar="DIR",
                   help="only the held-out part of a 'bag-export --out DIR' of this bag (its "
                        "val window, recorded in DIR/export.json)")
    s.add_argument("--plot-frames", type=int, default=3, metavar="K",
                   help="frames to draw depth/error maps for (default 3)")
    lv = p.add_argument_group("live mode")
    lv.add_argument("--live", action="store_true",
                    help="score a running node's depth/image while the bag is replayed")
    lv.add_argument("--depth-topic", default="depth/image", metavar="T",
                    help="the node's depth output (default depth/image)")
    lv.add_argument("--play", action="store_true",
                    help="replay the bag ourselves (iid-rdepth replay) once the node is up")
    lv.add_argument("--rate", type=float, default=1.0, metavar="R", help="replay rate (--play)")
    lv.add_argument("--qos", choices=("reliable", "sensor_data"), default="reliable",
                    help="replay QoS (--play)")
    lv.add_argument("--wait", type=seconds, default=60.0, metavar="S",
                    help="seconds to wait for the node and for the first frame (default 60)")
    lv.add_argument("--settle", type=seconds, default=5.0, metavar="S",
                    help="seconds to wait for outputs after the last input (default 5)")
    p.add_argument("--out", type=output_dir, default="out/eval_bag", metavar="DIR",
                   help="output directory (default out/eval_bag)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def spec_from_args(args: argparse.Namespace) -> Any:
    """The TopicSpec of the parsed topic options."""
    from iid_rdepth_ros.bag.frames import TopicSpec

    spec = TopicSpec(image=args.image_topic, camera_info=args.camera_info_topic,
                     aux_image=args.aux_image_topic,
                     aux_camera_info=args.aux_camera_info_topic,
                     gt_depth=args.gt_depth_topic, gt_points=args.gt_points_topic,
                     tf_static=args.tf_static_topic, tf=args.tf_topic)
    spec.validate()
    return spec


def options_from_args(args: argparse.Namespace) -> Any:
    """EvalOptions of the parsed options."""
    from iid_rdepth_ros.bag.evaluate import EvalOptions
    from iid_rdepth_ros.bag.frames import TimeWindow

    window, first = TimeWindow.seconds(args.start, args.end), None
    if args.held_out is not None:
        from iid_rdepth_ros.bag.export import read_held_out

        if window.active:
            raise ValueError("--held-out sets the window itself: drop --start / --end")
        held = read_held_out(args.held_out)
        if held["image_topic"] not in (None, args.image_topic):
            raise ValueError(f"{args.held_out} was exported from image topic "
                             f"{held['image_topic']}, not {args.image_topic}")
        window, first = TimeWindow(start_ns=held["start_ns"]), held["first_stamp_ns"]
    if window.active and args.live:
        raise ValueError("--start / --end / --held-out apply to the offline evaluation only")
    if not 0 < args.min_depth < args.max_depth:
        raise ValueError(f"need 0 < --min-depth < --max-depth, got {args.min_depth}, "
                         f"{args.max_depth}")
    if args.backend == "tensorrt" and not args.engine:
        raise ValueError("--backend tensorrt needs --engine FILE")
    return EvalOptions(backend=args.backend, model=args.model, engine=args.engine,
                       input_size=args.input_size, steps=args.steps, threads=args.threads,
                       device=args.device, min_depth=args.min_depth, max_depth=args.max_depth,
                       garg_crop=args.garg_crop, tolerance=args.tolerance,
                       gt_tolerance=args.gt_tolerance, max_frames=args.frames,
                       plot_frames=max(args.plot_frames, 0), progress=not args.no_progress,
                       window=window, first_stamp_ns=first)


def run(args: argparse.Namespace) -> int:
    """Evaluate and write the report; print the table and where the files are."""
    from iid_rdepth_ros.bag.report import write_report
    from iid_rdepth_ros.evaluation.report import print_table

    spec = spec_from_args(args)
    opts = options_from_args(args)
    if args.live:
        from iid_rdepth_ros.bag.live import LiveOptions, evaluate_live

        if not args.rate > 0:
            raise ValueError(f"--rate must be > 0, got {args.rate}")
        live = LiveOptions(depth_topic=args.depth_topic, play=args.play, rate=args.rate,
                           replay_qos=args.qos, wait=args.wait, settle=args.settle)
        if not args.play:
            print(f"waiting for the node on {args.depth_topic}; play the bag now "
                  f"(ros2 bag play {args.bag}, or iid-rdepth replay {args.bag})", flush=True)
        result = evaluate_live(args.bag, spec, opts, live)
        label = "node (live)"
    else:
        from iid_rdepth_ros.bag.evaluate import evaluate_bag

        result = evaluate_bag(args.bag, spec, opts)
        label = f"{result['runner']['backend']} (offline)"
    result["command"] = args.command_line
    title = f"eval-bag {args.bag}: {result['frames']['evaluated']} frames"
    paths = write_report(result, args.out, title, label)
    print_table({label: result["metrics"]}, title=title)
    lat = result["latency"]
    print(f"latency ms: mean {lat['mean_ms']}, p50 {lat['p50_ms']}, p95 {lat['p95_ms']}, "
          f"max {lat['max_ms']} ({lat['frames']} frames)")
    if args.live:
        f = result["frames"]
        print(f"frames: {f['expected']} expected, {f['evaluated']} scored, {f['dropped']} "
              f"dropped by the node ({f['input_seen']} inputs seen)")
    print(f"report: {paths['metrics_md']}  {paths['metrics_json']}")
    return 0
