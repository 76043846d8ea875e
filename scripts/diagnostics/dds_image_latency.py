"""One-way latency of a 1280x720 sensor_msgs/Image between two rclpy processes (reliable
QoS, whatever RMW and FASTDDS_DEFAULT_PROFILES_FILE the environment sets): what transport alone
costs the node at that camera size (issue 19's node bench).

    export ROS_DOMAIN_ID=77 FASTDDS_DEFAULT_PROFILES_FILE=$PWD/config/fastdds_large_images.xml
    python scripts/diagnostics/dds_image_latency.py sub rgb8 & sleep 0.5
    python scripts/diagnostics/dds_image_latency.py pub rgb8        # then: 32FC1

The publisher writes its wall clock into ``header.frame_id``; the subscriber prints the median
of (arrival - that clock) over 40 images sent at 10 Hz. Both processes raise glibc's malloc
thresholds as the node does (``ros/process_settings.py``); a third argument
``glibc-defaults`` leaves them at glibc's defaults.
"""

from __future__ import annotations

import array
import sys
import time

import numpy as np
import rclpy
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

HEIGHT, WIDTH, FRAMES = 720, 1280, 40


def main() -> None:
    role, encoding = sys.argv[1], sys.argv[2]
    if sys.argv[3:] != ["glibc-defaults"]:
        from iid_rdepth_ros.ros.process_settings import keep_large_buffers

        print(keep_large_buffers())
    channels = {"rgb8": 3, "32FC1": 4}[encoding]
    rclpy.init()
    node = Node(f"image_latency_{role}")
    qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
    if role == "pub":
        pub = node.create_publisher(Image, "image_latency", qos)
        time.sleep(2.0)  # discovery
        data = array.array("B")
        data.frombytes(np.random.default_rng(0).integers(
            0, 255, HEIGHT * WIDTH * channels, dtype=np.uint8).tobytes())
        for _ in range(FRAMES):
            msg = Image(height=HEIGHT, width=WIDTH, encoding=encoding, step=WIDTH * channels)
            msg.data = data
            msg.header.frame_id = repr(time.time())
            pub.publish(msg)
            time.sleep(0.1)
        time.sleep(1.0)
        return
    latencies: list[float] = []

    def on_image(msg: Image) -> None:
        latencies.append(time.time() - float(msg.header.frame_id))
        np.frombuffer(msg.data, np.uint8)

    node.create_subscription(Image, "image_latency", on_image, qos)
    end = time.time() + 8.0
    while time.time() < end:
        rclpy.spin_once(node, timeout_sec=0.1)
    print(f"{encoding} {HEIGHT}x{WIDTH}: one-way p50 {1e3 * np.median(latencies):.2f} ms over "
          f"{len(latencies)} images")


if __name__ == "__main__":
    main()
