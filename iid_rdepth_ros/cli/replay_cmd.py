"""``iid-rdepth replay``: publish a rosbag2 over DDS at its recorded rate (like
``ros2 bag play``)."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> None:
    """Register ``replay``."""
    p = subparsers.add_parser(
        "replay", help="publish a rosbag2's messages at their recorded rate (ros2 bag play)",
        description="Publish the recorded messages (raw CDR, headers untouched) at their "
                    "recorded rate with rclpy. On a robot with ROS 2 installed, 'ros2 bag play' "
                    "does the same. Topics whose message package is not installed for rclpy are "
                    "skipped with a note.")
    p.add_argument("bag", metavar="BAG", help="rosbag2 directory (or a .mcap file)")
    p.add_argument("--rate", type=float, default=1.0, metavar="R",
                   help="playback speed factor (default 1.0)")
    p.add_argument("--topics", nargs="+", metavar="T", help="only these topics (default all)")
    p.add_argument("--qos", choices=("reliable", "sensor_data"), default="reliable",
                   help="publisher QoS (default reliable; latched topics stay latched)")
    p.add_argument("--remap", action="append", metavar="FROM:=TO",
                   help="publish topic FROM as TO (repeatable)")
    p.add_argument("--wait-for", action="append", metavar="TOPIC[=N]",
                   help="before playing, wait until TOPIC has N subscribers (repeatable)")
    p.add_argument("--wait-timeout", type=float, default=30.0, metavar="S",
                   help="seconds --wait-for may take (default 30)")
    p.add_argument("--delay", type=float, default=0.0, metavar="S",
                   help="sleep S seconds before the first message")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Replay and print what was published."""
    from iid_rdepth_ros.bag.replay import parse_remaps, parse_wait, replay_bag

    if not args.rate > 0:
        raise ValueError(f"--rate must be > 0, got {args.rate}")
    summary = replay_bag(args.bag, rate=args.rate, topics=args.topics, qos=args.qos,
                         remaps=parse_remaps(args.remap), wait_for=parse_wait(args.wait_for),
                         wait_timeout=args.wait_timeout, delay=max(args.delay, 0.0),
                         progress=not args.no_progress)
    total = sum(summary.published.values())
    print(f"published {total} messages on {len(summary.published)} topics in "
          f"{summary.seconds:.2f} s (bag span {summary.bag_seconds:.2f} s, rate {args.rate:g}, "
          f"at most {summary.max_late_ms:.1f} ms behind schedule)")
    for topic, n in sorted(summary.published.items()):
        print(f"  {topic}: {n}")
    for topic, why in sorted(summary.skipped_topics.items()):
        print(f"  skipped {topic}: {why}")
    for topic in summary.unacknowledged:
        print(f"  {topic}: not every message acknowledged by its subscribers after the last one "
              "(a slow subscriber may have missed the end)")
    return 0
