"""``bag.message_types``: a bag's recorded type names resolve only to rosidl message classes of
installed ROS interface packages; nothing else a bag names is imported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from iid_rdepth_ros.bag.message_types import (
    MSG_TYPE,
    UnsupportedMessageType,
    install_prefixes,
    message_class,
)

pytest.importorskip("rclpy")


def test_installed_message_types_resolve() -> None:
    from sensor_msgs.msg import CameraInfo, Image
    from std_msgs.msg import String

    assert message_class("sensor_msgs/msg/Image") is Image
    assert message_class("sensor_msgs/msg/CameraInfo") is CameraInfo
    assert message_class("std_msgs/msg/String") is String
    assert install_prefixes(), "no install prefix with an ament index found"


@pytest.mark.parametrize("msgtype, words", [
    ("unittest/__main__/X", "not a ROS message type name"),
    ("os/msg/X", "no ament index entry"),
    ("evilpkg/msg/X", "no ament index entry"),
    ("sensor_msgs/srv/SetCameraInfo", "not a ROS message type name"),
    ("sensor_msgs/msg/NoSuchMessage", "no ament index entry"),
    ("../sensor_msgs/msg/Image", "not a ROS message type name"),
    ("sensor_msgs/msg/Image\n", "not a ROS message type name"),
    ("Sensor_msgs/msg/Image", "not a ROS message type name"),
    ("sensor_msgs/msg/image", "not a ROS message type name"),
    ("sensor_msgs.msg/msg/Image", "not a ROS message type name"),
    ("", "not a ROS message type name"),
])
def test_other_names_are_refused(msgtype: str, words: str) -> None:
    with pytest.raises(UnsupportedMessageType, match=words):
        message_class(msgtype)
    assert isinstance(UnsupportedMessageType("x"), ValueError)


def test_pattern_is_the_ros_naming_rule() -> None:
    assert MSG_TYPE.fullmatch("tf2_msgs/msg/TFMessage")
    assert MSG_TYPE.fullmatch("my_robot_interfaces2/msg/Status3")
    assert not MSG_TYPE.fullmatch("2d_msgs/msg/X")
    assert not MSG_TYPE.fullmatch("pkg/msg/X/Y")


def test_a_shadowing_package_on_sys_path_is_refused_unimported(tmp_path: Path) -> None:
    """A ``std_msgs`` package first on sys.path (e.g. the working directory under ``python
    -m``) has the name of a registered interface package but not its install prefix: refused
    before anything of it runs."""
    marker = tmp_path / "marker"
    fake = tmp_path / "shadow" / "std_msgs"
    (fake / "msg").mkdir(parents=True)
    (fake / "__init__.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    (fake / "msg" / "__init__.py").write_text("String = object\n")
    code = ("import sys; sys.path.insert(0, sys.argv[1])\n"
            "from iid_rdepth_ros.bag.message_types import message_class, "
            "UnsupportedMessageType\n"
            "try:\n    message_class('std_msgs/msg/String')\n"
            "except UnsupportedMessageType as exc:\n    print('refused:', exc)\n")
    proc = subprocess.run([sys.executable, "-P", "-c", code, str(fake.parent)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "refused: std_msgs/msg/String: the Python package std_msgs found here" in proc.stdout
    assert not marker.exists()
