"""``NodeDriver``: one client that drives a running ``iid_rdepth_node`` over DDS.

It publishes camera frames (``image``, ``camera_info``, ``aux/image``, ``aux/camera_info``) or
watches frames someone else publishes (a replayed bag), and records what the node publishes
with its arrival time, by header stamp (the node copies its input's stamp, REP 118). Live
evaluation (``bag.live``), the node benchmark (``bench.node``) and the integration tests all
drive the node through it. Arrival times are wall-clock ``time.time()`` seconds, comparable
with the header stamps of frames stamped with the wall clock.

A background thread spins the driver's own executor; records are bounded. ``raw=True`` keeps
the outputs as serialised CDR bytes (the stamp is read from the bytes), for consumers that
decode only what they need.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from iid_rdepth_ros.geometry.camera import Intrinsics

#: output key -> (message type name, topic relative to the node's namespace)
OUTPUTS: dict[str, tuple[str, str]] = {
    "depth": ("Image", "depth/image"),
    "info": ("CameraInfo", "depth/camera_info"),
    "colorized": ("Image", "depth/colorized"),
    "confidence": ("Image", "depth/confidence"),
    "points": ("PointCloud2", "points"),
}
DEFAULT_OUTPUTS = ("depth", "info", "colorized", "points")
INPUT_QOS = ("sensor_data", "reliable")


def stamp_ns(stamp: Any) -> int:
    """Nanoseconds of a ``builtin_interfaces/Time`` (or of an int, returned as is)."""
    if isinstance(stamp, (int, np.integer)):
        return int(stamp)
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def cdr_stamp_ns(raw: bytes) -> int:
    """Header stamp of a serialised message whose first field is a ``std_msgs/Header``."""
    # CDR: 4-byte encapsulation header, then header.stamp (int32 sec, uint32 nanosec)
    order = "<" if raw[1] == 1 else ">"
    sec, nsec = np.frombuffer(raw[4:12], dtype=f"{order}i4,{order}u4")[0]
    return int(sec) * 1_000_000_000 + int(nsec)


def time_msg(ns: int | None = None) -> Any:
    """``builtin_interfaces/Time`` of ``ns`` (default: now, wall clock)."""
    from builtin_interfaces.msg import Time

    ns = time.time_ns() if ns is None else int(ns)
    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def frame_messages(rgb: np.ndarray, intrinsics: Intrinsics, stamp: Any,
                   frame_id: str = "camera_optical", aux: np.ndarray | None = None,
                   baseline_m: float | None = None, encoding: str = "rgb8",
                   aux_frame_id: str | None = None) -> dict[str, Any]:
    """Image and CameraInfo messages of one camera frame (+ the right camera's with ``aux``):
    keys ``image``, ``camera_info`` (and ``aux/image``, ``aux/camera_info``)."""
    from iid_rdepth_ros.ros.camera_info import make_camera_info
    from iid_rdepth_ros.ros.image_codec import array_to_image

    def image(pixels: np.ndarray, fid: str) -> Any:
        data = pixels[..., ::-1] if encoding == "bgr8" else pixels
        msg = array_to_image(np.ascontiguousarray(data), encoding)
        msg.header.stamp, msg.header.frame_id = stamp, fid
        return msg

    hw = rgb.shape[:2]
    out = {"image": image(rgb, frame_id),
           "camera_info": make_camera_info(hw, intrinsics, None, stamp, frame_id)}
    if aux is not None:
        right = aux_frame_id or f"{frame_id}_right"
        out["aux/image"] = image(aux, right)
        out["aux/camera_info"] = make_camera_info(aux.shape[:2], intrinsics, baseline_m,
                                                  stamp, right)
    return out


class NodeDriver:
    """Publishes frames to a node and records its outputs (see module docstring).

    ``namespace``: the node's namespace (its topics are ``/<namespace>/...``; "" = root).
    ``outputs``: output keys of :data:`OUTPUTS` to record. ``input_qos``: reliability of the
    driver's input publishers (``sensor_data`` = best effort, or ``reliable``); ``publish``
    False makes no input publishers. ``input_topics`` / ``output_topics``: topic per key where
    it is not the node's own name (remapped). ``watch_image``: also record the arrival of
    every message on this image topic (a replayed camera). ``diag_filter``: which
    DiagnosticStatus names are the node's (default: names under ``/<namespace>/``).
    """

    def __init__(self, context: Any, namespace: str = "", *,
                 outputs: tuple[str, ...] = DEFAULT_OUTPUTS, input_qos: str = "sensor_data",
                 publish: bool = True, watch_image: str | None = None, raw: bool = False,
                 keep: int = 400, name: str | None = None,
                 input_topics: dict[str, str] | None = None,
                 output_topics: dict[str, str] | None = None,
                 diag_filter: Callable[[str], bool] | None = None) -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
        from sensor_msgs.msg import CameraInfo, Image, PointCloud2

        if input_qos not in INPUT_QOS:
            raise ValueError(f"input_qos must be one of {', '.join(INPUT_QOS)}, got {input_qos!r}")
        self.ns = namespace.strip("/")
        self.raw = raw
        self.keep = keep
        self.node = rclpy.create_node(name or f"iid_rdepth_driver_{os.getpid()}_{id(self):x}",
                                      context=context)
        self.lock = threading.Condition()
        self._types = {"Image": Image, "CameraInfo": CameraInfo, "PointCloud2": PointCloud2}
        self._reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        in_qos = (qos_profile_sensor_data if input_qos == "sensor_data"
                  else QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE))
        self.publishers: dict[str, Any] = {}
        if publish:
            for key, mtype in (("image", Image), ("camera_info", CameraInfo),
                               ("aux/image", Image), ("aux/camera_info", CameraInfo)):
                topic = self.topic((input_topics or {}).get(key, key))
                self.publishers[key] = self.node.create_publisher(mtype, topic, in_qos)
        self.records: dict[str, OrderedDict[int, tuple[float, Any]]] = {}
        self.counts: dict[str, int] = {}
        self._topics = {key: self.topic((output_topics or {}).get(key, OUTPUTS[key][1]))
                        for key in OUTPUTS}
        self._subs: dict[str, Any] = {}
        for key in outputs:
            self.subscribe(key)
        self.watched_image = None
        if watch_image:  # best effort accepts both reliable and best-effort publishers
            self.watched_image = self.node.resolve_topic_name(watch_image)
            self._record_topic("input", Image, watch_image, qos_profile_sensor_data)
        self._diag_filter = diag_filter or (lambda n: n.startswith(f"/{self.ns}/"))
        self.diag: list[tuple[float, Any]] = []
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diag, 10)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self._paused = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    # -- topics and subscriptions ----------------------------------------------------------
    def topic(self, name: str) -> str:
        """``name`` under the node's namespace (absolute names are kept)."""
        if name.startswith("/") or not self.ns:
            return self.node.resolve_topic_name(name)
        return f"/{self.ns}/{name}"

    def output_topic(self, key: str) -> str:
        """Full name of an output topic."""
        return self._topics[key]

    def subscribe(self, key: str) -> None:
        """(Re)subscribe to one output (``depth``, ``info``, ``colorized``, ...)."""
        if key not in self._subs:
            mtype = self._types[OUTPUTS[key][0]]
            self._subs[key] = self._record_topic(key, mtype, self._topics[key], self._reliable)

    def unsubscribe(self, key: str) -> None:
        """Drop the subscription to one output."""
        sub = self._subs.pop(key, None)
        if sub is not None:
            self.node.destroy_subscription(sub)

    def _record_topic(self, key: str, mtype: Any, topic: str, qos: Any) -> Any:
        self.records.setdefault(key, OrderedDict())
        self.counts.setdefault(key, 0)

        def record(msg: Any) -> None:
            now = time.time()
            stamp = cdr_stamp_ns(msg) if self.raw else stamp_ns(msg.header.stamp)
            with self.lock:
                records = self.records[key]
                records.setdefault(stamp, (now, bytes(msg) if self.raw else msg))
                while len(records) > self.keep:
                    records.popitem(last=False)
                self.counts[key] += 1
                self.lock.notify_all()

        return self.node.create_subscription(mtype, topic, record, qos, raw=self.raw)

    def _on_diag(self, msg: Any) -> None:
        now = time.time()
        for status in msg.status:
            if self._diag_filter(status.name):
                with self.lock:
                    self.diag.append((now, status))
                    del self.diag[:-self.keep]
                    self.lock.notify_all()

    # -- spinning ---------------------------------------------------------------------------
    def _spin(self) -> None:
        while not self._stop.is_set():
            if self._paused.is_set():
                time.sleep(0.005)
                continue
            try:
                self.executor.spin_once(timeout_sec=0.02)
            except Exception:  # noqa: BLE001 - the context was shut down under us
                return

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """No ROS work in this process inside the block (e.g. while timing something else)."""
        self._paused.set()
        time.sleep(0.03)
        try:
            yield
        finally:
            self._paused.clear()

    def close(self) -> None:
        """Stop spinning and destroy the driver's node."""
        self._stop.set()
        self._thread.join(2.0)
        self.executor.shutdown()
        self.node.destroy_node()

    def __enter__(self) -> NodeDriver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- inputs -----------------------------------------------------------------------------
    def publish(self, messages: dict[str, Any]) -> int:
        """Publish one frame's messages (keys as :func:`frame_messages` gives them): camera
        infos and the aux image first, the main image last. Returns the image's stamp (ns)."""
        for key in ("camera_info", "aux/camera_info", "aux/image", "image"):
            if messages.get(key) is not None:
                self.publishers[key].publish(messages[key])
        return stamp_ns(messages["image"].header.stamp)

    def node_ready(self) -> bool:
        """The node publishes depth and listens to the image topic."""
        if self.node.count_publishers(self._topics["depth"]) == 0:
            return False
        if "image" in self.publishers:
            return self.publishers["image"].get_subscription_count() > 0
        if self.watched_image:  # this driver and the node
            return self.node.count_subscribers(self.watched_image) > 1
        return True

    # -- outputs ----------------------------------------------------------------------------
    def wait_for(self, predicate: Callable[[], bool], timeout: float,
                 period: float = 0.02) -> bool:
        """Until ``predicate()`` or ``timeout`` seconds passed; returns its last value. It is
        checked whenever a message arrives and at least every ``period`` seconds."""
        end = time.monotonic() + timeout
        with self.lock:
            while not predicate():
                left = end - time.monotonic()
                if left <= 0:
                    return bool(predicate())
                self.lock.wait(min(left, period))
            return True

    def get(self, key: str, stamp: Any) -> tuple[float, Any] | None:
        """(arrival time, message) on ``key`` for the frame with this stamp, if received."""
        with self.lock:
            return self.records[key].get(stamp_ns(stamp))

    def find(self, key: str, stamp: Any) -> Any | None:
        """The message on ``key`` for the frame with this stamp, if received."""
        got = self.get(key, stamp)
        return None if got is None else got[1]

    def latest(self, key: str) -> tuple[float, Any] | None:
        """(arrival time, message) of the last message on ``key``."""
        with self.lock:
            records = self.records[key]
            return next(reversed(records.values())) if records else None

    def count(self, key: str) -> int:
        """Messages received on ``key`` so far."""
        with self.lock:
            return self.counts[key]

    def latest_diagnostics(self, after: float | None = None) -> tuple[float, Any] | None:
        """(arrival time, DiagnosticStatus) of the node's last status (after ``after``)."""
        with self.lock:
            if not self.diag or (after is not None and self.diag[-1][0] <= after):
                return None
            return self.diag[-1]

    def wait_diagnostics(self, timeout: float, after: float | None = None) -> dict[str, str]:
        """Key/values of the node's next status (arriving after ``after``, default now), plus
        ``_level`` and ``_message``; {} when none came within ``timeout``."""
        after = time.time() if after is None else after
        if not self.wait_for(lambda: bool(self.diag) and self.diag[-1][0] > after, timeout):
            return {}
        status = self.diag[-1][1]
        values = {kv.key: kv.value for kv in status.values}
        level = status.level
        values["_level"] = str(int.from_bytes(level, "little") if isinstance(level, bytes)
                               else level)
        values["_message"] = status.message
        return values
