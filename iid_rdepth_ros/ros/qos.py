"""QoS of the node's subscriptions and publishers; ``auto`` adapts to the publishers.

``input_qos: auto`` subscribes to each input topic with the reliability (and durability) that
its publishers offer, as ``rosbag2`` records with adaptive QoS: reliable when every matched
publisher offers reliable, else best effort (which matches any publisher); transient local
when every publisher offers it, else volatile. The choice is made per topic once publishers
exist and re-made as publishers come and go (:class:`AdaptiveSubscription`). A reliable
subscription to a reliable camera is what makes large images arrive with default DDS settings
(a best-effort reader drops a fragmented sample when any fragment is late; see
docs/dds.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)

#: keep-last depth of the input subscriptions (the node only ever uses the newest frames)
INPUT_DEPTH = 5


def reliable_qos(depth: int = 5) -> QoSProfile:
    """Reliable, volatile, keep-last QoS (rviz2's default subscription)."""
    return QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.VOLATILE, history=HistoryPolicy.KEEP_LAST)


def qos_from_name(name: str) -> QoSProfile:
    """``sensor_data`` (best effort, keep last 5) or ``reliable``."""
    if name == "sensor_data":
        return qos_profile_sensor_data
    if name == "reliable":
        return reliable_qos()
    raise ValueError(f"QoS must be sensor_data or reliable, got {name!r}")


@dataclass(frozen=True)
class QosChoice:
    """What an ``auto`` subscription uses: reliability and durability."""

    reliable: bool
    transient_local: bool = False

    def profile(self) -> QoSProfile:
        """The subscription QoS for this choice."""
        return QoSProfile(
            depth=INPUT_DEPTH, history=HistoryPolicy.KEEP_LAST,
            reliability=(ReliabilityPolicy.RELIABLE if self.reliable
                         else ReliabilityPolicy.BEST_EFFORT),
            durability=(DurabilityPolicy.TRANSIENT_LOCAL if self.transient_local
                        else DurabilityPolicy.VOLATILE))

    def describe(self) -> str:
        """``reliable`` / ``best_effort`` (+ ``transient_local``)."""
        text = "reliable" if self.reliable else "best_effort"
        return text + (", transient_local" if self.transient_local else "")


def choose_qos(publisher_profiles: list[Any]) -> QosChoice | None:
    """The subscription QoS matching every publisher (``TopicEndpointInfo.qos_profile``
    objects), or None when there is no publisher."""
    if not publisher_profiles:
        return None
    reliable = all(p.reliability == ReliabilityPolicy.RELIABLE for p in publisher_profiles)
    transient = all(p.durability == DurabilityPolicy.TRANSIENT_LOCAL
                    for p in publisher_profiles)
    return QosChoice(reliable=reliable, transient_local=transient)


class AdaptiveSubscription:
    """One input topic of the node, subscribed with a fixed QoS or adapting to its publishers.

    ``fixed``: a QoS profile, or None for ``auto``. With ``auto`` nothing is subscribed until
    a publisher exists; :meth:`update` (called periodically) subscribes, or re-subscribes when
    the publishers' offer changes. While the last publisher is gone the subscription stays as
    it was, so a camera that comes back is matched at once.
    """

    def __init__(self, node: Any, msg_type: Any, topic: str, callback: Callable[[Any], None],
                 fixed: QoSProfile | None = None,
                 on_change: Callable[[str, str], None] | None = None) -> None:
        self._node = node
        self._type = msg_type
        self.topic = node.resolve_topic_name(topic)
        self._callback = callback
        self._on_change = on_change
        self.sub: Any = None
        self.choice: QosChoice | None = None
        if fixed is not None:
            self.sub = node.create_subscription(msg_type, topic, callback, fixed)
            self.fixed = True
        else:
            self.fixed = False
            self.update()

    @property
    def describe(self) -> str:
        """The QoS in use, in words."""
        if self.fixed:
            rel = self.sub.qos_profile.reliability
            return "reliable" if rel == ReliabilityPolicy.RELIABLE else "best_effort"
        if self.choice is None:
            return "auto (waiting for a publisher)"
        return f"auto: {self.choice.describe()}"

    def update(self) -> bool:
        """Adapt to the publishers now; True when the subscription changed."""
        if self.fixed:
            return False
        infos = self._node.get_publishers_info_by_topic(self.topic)
        choice = choose_qos([info.qos_profile for info in infos])
        if choice is None or choice == self.choice:
            return False
        if self.sub is not None:
            self._node.destroy_subscription(self.sub)
        self.sub = self._node.create_subscription(self._type, self.topic, self._callback,
                                                  choice.profile())
        self.choice = choice
        if self._on_change is not None:
            self._on_change(self.topic, choice.describe())
        return True

    def destroy(self) -> None:
        """Unsubscribe."""
        if self.sub is not None:
            self._node.destroy_subscription(self.sub)
        self.sub = None
        self.choice = None
