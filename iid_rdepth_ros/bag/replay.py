"""Replay a rosbag2 over DDS at its recorded rate (what ``ros2 bag play`` does on a robot).

Messages are published as the recorded CDR bytes (``Publisher.publish(bytes)``: rclpy's raw
publish), so nothing is decoded or re-encoded and headers keep their recorded stamps. The
recorded type names are resolved by ``bag.message_types`` (only message classes of installed
ROS interface packages; nothing a bag names is imported otherwise); a topic whose type does not
resolve is skipped and reported (e.g. ``tf2_msgs`` when only the pip-installed ROS packages are
present). Topics recorded with
transient-local durability (``/tf_static``) are replayed latched; the others with ``qos``.

Large best-effort images need the sender's Fast DDS profile (``config/
fastdds_large_images.xml``); :func:`replay_bag` sets ``FASTDDS_DEFAULT_PROFILES_FILE`` to it
unless the environment already names one.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

QOS_NAMES = ("reliable", "sensor_data")


@dataclass
class ReplaySummary:
    """What was published."""

    published: dict[str, int] = field(default_factory=dict)
    skipped_topics: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    bag_seconds: float = 0.0
    max_late_ms: float = 0.0
    #: reliable topics whose last messages no subscriber acknowledged within the drain time
    unacknowledged: list[str] = field(default_factory=list)


def parse_remaps(remaps: list[str] | None) -> dict[str, str]:
    """``FROM:=TO`` strings -> dict (ValueError for a malformed one)."""
    out: dict[str, str] = {}
    for item in remaps or []:
        src, sep, dst = item.partition(":=")
        if not sep or not src or not dst:
            raise ValueError(f"remap {item!r} must look like /from/topic:=/to/topic")
        out[src] = dst
    return out


def parse_wait(items: list[str] | None) -> dict[str, int]:
    """``TOPIC`` or ``TOPIC=N`` strings -> {topic: subscribers to wait for}."""
    out: dict[str, int] = {}
    for item in items or []:
        topic, _, n = item.partition("=")
        try:
            out[topic] = int(n) if n else 1
        except ValueError:
            raise ValueError(f"--wait-for {item!r}: expected TOPIC or TOPIC=N") from None
    return out


def _qos(name: str, latched: bool) -> Any:
    from rclpy.qos import (
        DurabilityPolicy,
        HistoryPolicy,
        QoSProfile,
        ReliabilityPolicy,
        qos_profile_sensor_data,
    )

    if latched:
        return QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST,
                          reliability=ReliabilityPolicy.RELIABLE,
                          durability=DurabilityPolicy.TRANSIENT_LOCAL)
    if name == "sensor_data":
        return qos_profile_sensor_data
    return QoSProfile(depth=10, history=HistoryPolicy.KEEP_LAST,
                      reliability=ReliabilityPolicy.RELIABLE)


def _latched(bag: Any, topic: str) -> bool:
    info = bag._reader.topics.get(topic)  # noqa: SLF001 - offered QoS lives on connections
    for conn in getattr(info, "connections", []) or []:
        for qos in getattr(conn.ext, "offered_qos_profiles", []) or []:
            durability = getattr(qos, "durability", None)
            if getattr(durability, "name", "") == "TRANSIENT_LOCAL":
                return True
    return topic == "/tf_static"


def replay_bag(bag_path: str | Path, rate: float = 1.0, topics: list[str] | None = None,
               qos: str = "reliable", remaps: dict[str, str] | None = None,
               wait_for: dict[str, int] | None = None, wait_timeout: float = 30.0,
               delay: float = 0.0, progress: bool = True, context: Any = None) -> ReplaySummary:
    """Publish the bag's messages (all topics, or ``topics``) at ``rate`` x recorded speed."""
    from iid_rdepth_ros.bag.io import open_bag
    from iid_rdepth_ros.bag.message_types import UnsupportedMessageType, message_class
    from iid_rdepth_ros.ros.dds import DEFAULT_FASTDDS_PROFILE

    if not rate > 0:
        raise ValueError(f"rate must be > 0, got {rate}")
    if qos not in QOS_NAMES:
        raise ValueError(f"qos must be one of {', '.join(QOS_NAMES)}, got {qos!r}")
    remaps = remaps or {}
    if DEFAULT_FASTDDS_PROFILE and "FASTDDS_DEFAULT_PROFILES_FILE" not in os.environ:
        os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] = str(DEFAULT_FASTDDS_PROFILE)
    import rclpy

    summary = ReplaySummary()
    with open_bag(bag_path) as bag:
        chosen = list(topics) if topics else sorted(bag.topics)
        unknown = [t for t in chosen if t not in bag.topics]
        if unknown:
            raise ValueError(f"{bag_path}: no topic(s) {', '.join(unknown)} in the bag; it has: "
                             f"{bag.describe()}")
        for t in (wait_for or {}):
            if remaps.get(t, t) not in {remaps.get(c, c) for c in chosen}:
                raise ValueError(f"--wait-for {t}: not among the replayed topics")
        own_context = context is None
        if own_context:
            context = rclpy.Context()
            rclpy.init(context=context)
        node = rclpy.create_node(f"iid_rdepth_replay_{os.getpid()}", context=context)
        pubs: dict[str, Any] = {}
        try:
            for t in chosen:
                try:
                    cls = message_class(bag.topics[t])
                except UnsupportedMessageType as exc:
                    summary.skipped_topics[t] = str(exc)
                    continue
                pubs[t] = node.create_publisher(cls, remaps.get(t, t),
                                                _qos(qos, _latched(bag, t)))
                summary.published[t] = 0
            if not pubs:
                raise ValueError(f"{bag_path}: nothing to replay, no selected topic has a "
                                 "message type installed here: " + "; ".join(
                                     f"{t}: {why}" for t, why in summary.skipped_topics.items()))
            _wait_subscribers(node, pubs, remaps, wait_for or {}, wait_timeout, context)
            if delay > 0:
                time.sleep(delay)
            _play(bag, pubs, rate, summary, progress)
            summary.unacknowledged = _drain(pubs, DRAIN_TIMEOUT_S)
        finally:
            node.destroy_node()
            if own_context:
                rclpy.try_shutdown(context=context)
    return summary


#: how long the replay waits, after its last message, for reliable subscribers to acknowledge
#: what is still in flight (destroying a publisher drops unacknowledged samples)
DRAIN_TIMEOUT_S = 5.0


def _drain(pubs: dict[str, Any], timeout: float) -> list[str]:
    """Wait until every publisher's samples are acknowledged (reliable QoS; best effort returns
    at once) or ``timeout`` s have passed in total; the topics still unacknowledged."""
    from rclpy.duration import Duration

    end = time.monotonic() + timeout
    late = []
    for topic, pub in pubs.items():
        left = max(end - time.monotonic(), 0.0)
        if not pub.wait_for_all_acked(Duration(nanoseconds=int(left * 1e9))):
            late.append(topic)
    return late


def _wait_subscribers(node: Any, pubs: dict[str, Any], remaps: dict[str, str],
                      wait_for: dict[str, int], timeout: float, context: Any) -> None:
    if not wait_for:
        return
    by_name = {remaps.get(t, t): p for t, p in pubs.items()}
    end = time.monotonic() + timeout
    while True:
        missing = {t: n for t, n in wait_for.items()
                   if by_name.get(remaps.get(t, t)) is not None
                   and by_name[remaps.get(t, t)].get_subscription_count() < n}
        if not missing:
            time.sleep(0.5)  # let the subscribers match this publisher too (see --delay)
            return
        if time.monotonic() > end:
            raise ValueError(f"no subscribers on {', '.join(missing)} after {timeout:g} s "
                             "(is the node running with the same ROS_DOMAIN_ID?)")
        time.sleep(0.05)


def _play(bag: Any, pubs: dict[str, Any], rate: float, summary: ReplaySummary,
          progress: bool) -> None:
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=sum(bag.counts[t] for t in pubs), desc="replay", unit="msg")
    first_log = None
    start = time.monotonic()
    last_log = 0
    try:
        for topic, logtime, raw in bag.raw(list(pubs)):
            if first_log is None:
                first_log = logtime
                start = time.monotonic()
            due = start + (logtime - first_log) / 1e9 / rate
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            else:
                summary.max_late_ms = max(summary.max_late_ms, -1000.0 * wait)
            pubs[topic].publish(bytes(raw))
            summary.published[topic] += 1
            last_log = logtime
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    summary.seconds = time.monotonic() - start
    summary.bag_seconds = 0.0 if first_log is None else (last_log - first_log) / 1e9
