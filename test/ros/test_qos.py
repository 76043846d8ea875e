"""input_qos auto: the subscription QoS that matches every publisher (as rosbag2 adapts)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

pytest.importorskip("rclpy")

from rclpy.qos import DurabilityPolicy, ReliabilityPolicy  # noqa: E402

from iid_rdepth_ros.ros.qos import QosChoice, choose_qos, qos_from_name  # noqa: E402

REL, BE = ReliabilityPolicy.RELIABLE, ReliabilityPolicy.BEST_EFFORT
VOL, TL = DurabilityPolicy.VOLATILE, DurabilityPolicy.TRANSIENT_LOCAL


def _pub(reliability: ReliabilityPolicy, durability: DurabilityPolicy = VOL) -> SimpleNamespace:
    return SimpleNamespace(reliability=reliability, durability=durability)


def test_choice_follows_every_publisher() -> None:
    assert choose_qos([]) is None  # nothing to match yet: not subscribed
    assert choose_qos([_pub(REL), _pub(REL)]) == QosChoice(reliable=True)
    assert choose_qos([_pub(REL), _pub(BE)]) == QosChoice(reliable=False)  # matches both
    assert choose_qos([_pub(REL, TL)]) == QosChoice(reliable=True, transient_local=True)
    assert choose_qos([_pub(REL, TL), _pub(REL)]) == QosChoice(reliable=True)
    profile = QosChoice(reliable=False).profile()
    assert profile.reliability == BE and profile.durability == VOL and profile.depth == 5
    assert QosChoice(True, True).describe() == "reliable, transient_local"
    assert qos_from_name("reliable").reliability == REL
    with pytest.raises(ValueError, match="sensor_data or reliable"):
        qos_from_name("auto")
