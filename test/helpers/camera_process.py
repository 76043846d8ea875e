"""A camera driver in its own process, for the node's DDS tests: publishes frames from an
``.npz`` the way a camera driver does (its own participant, its own QoS and DDS settings).

``python camera_process.py NAMESPACE FRAMES.npz [options]``; the ``.npz`` holds ``left``
(H, W, 3) uint8 RGB, optionally ``right``, and ``camera`` = (fx, fy, cx, cy, aux_cx,
baseline_m). Each published frame prints ``published <stamp_ns>``; the end prints
``done <count>``. The main image goes out first and its stereo partner ``--aux-delay`` seconds
later, as two camera drivers would. Start it with ``FASTDDS_DEFAULT_PROFILES_FILE`` in its
environment to give it a DDS profile (the sender's settings are the ones that matter).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def _publishers(node, ns: str, qos, compressed: bool, stereo: bool) -> dict:  # noqa: ANN001
    from sensor_msgs.msg import CameraInfo, CompressedImage, Image

    image_type, suffix = (CompressedImage, "/compressed") if compressed else (Image, "")
    keys = [("image", image_type, "image" + suffix), ("camera_info", CameraInfo, "camera_info")]
    if stereo:
        keys += [("aux/image", image_type, "aux/image" + suffix),
                 ("aux/camera_info", CameraInfo, "aux/camera_info")]
    return {key: node.create_publisher(mtype, f"/{ns}/{topic}", qos)
            for key, mtype, topic in keys}


def _image(pixels: np.ndarray, stamp, frame_id: str, compressed: bool):  # noqa: ANN001, ANN202
    if compressed:
        import cv2
        from sensor_msgs.msg import CompressedImage

        ok, data = cv2.imencode(".jpg", np.ascontiguousarray(pixels[..., ::-1]),
                                [cv2.IMWRITE_JPEG_QUALITY, 90])
        assert ok
        msg = CompressedImage(format="rgb8; jpeg compressed bgr8")
        msg.data = data.tobytes()
    else:
        from iid_rdepth_ros.ros.image_codec import array_to_image

        msg = array_to_image(np.ascontiguousarray(pixels), "rgb8")
    msg.header.stamp, msg.header.frame_id = stamp, frame_id
    return msg


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("namespace")
    p.add_argument("frames", type=Path)
    p.add_argument("--qos", choices=("reliable", "best_effort"), default="reliable")
    p.add_argument("--rate", type=float, default=10.0, help="frames per second")
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--aux-delay", type=float, default=0.03)
    p.add_argument("--compressed", action="store_true", help="JPEG (q90) on image/compressed")
    p.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the node")
    args = p.parse_args(argv)

    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    from iid_rdepth_ros.geometry.camera import Intrinsics
    from iid_rdepth_ros.ros.camera_info import make_camera_info
    from iid_rdepth_ros.ros.driver import time_msg

    data = np.load(args.frames)
    left = data["left"]
    right = data.get("right", None)
    fx, fy, cx, cy, aux_cx, baseline = (float(v) for v in data["camera"])
    hw = left.shape[:2]
    reliability = (ReliabilityPolicy.RELIABLE if args.qos == "reliable"
                   else ReliabilityPolicy.BEST_EFFORT)
    rclpy.init()
    node = rclpy.create_node(f"camera_{args.namespace}")
    pubs = _publishers(node, args.namespace, QoSProfile(depth=5, reliability=reliability),
                       args.compressed, right is not None)
    deadline = time.monotonic() + args.wait
    while any(pub.get_subscription_count() == 0 for pub in pubs.values()):
        if time.monotonic() > deadline:
            print("no subscriber", flush=True)
            return 1
        time.sleep(0.05)
    time.sleep(0.5)
    start = time.monotonic()
    for i in range(args.count):
        stamp = time_msg()
        pubs["camera_info"].publish(make_camera_info(hw, Intrinsics(fx, fy, cx, cy), None,
                                                     stamp, "cam_left"))
        if right is not None:
            pubs["aux/camera_info"].publish(make_camera_info(
                hw, Intrinsics(fx, fy, aux_cx, cy), baseline, stamp, "cam_right"))
        pubs["image"].publish(_image(left, stamp, "cam_left", args.compressed))
        if right is not None:
            time.sleep(args.aux_delay)
            pubs["aux/image"].publish(_image(right, stamp, "cam_right", args.compressed))
        print(f"published {stamp.sec * 1_000_000_000 + stamp.nanosec}", flush=True)
        time.sleep(max(0.0, start + (i + 1) / args.rate - time.monotonic()))
    time.sleep(1.0)  # reliable deliveries finish before the participant goes
    print(f"done {args.count}", flush=True)
    node.destroy_node()
    rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
