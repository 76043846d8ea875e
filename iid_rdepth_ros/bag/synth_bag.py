"""A synth-street drive written as a real rosbag2 (sqlite3 or mcap) with ``rosbags``.

Topics (stamps at the 10 Hz camera rate; the header stamp is also the log time)::

    /camera/left/image           sensor_msgs/Image       rgb8, rectified left camera
    /camera/left/camera_info     sensor_msgs/CameraInfo  P[3] = 0
    /camera/right/image          sensor_msgs/Image       rgb8, rectified right camera
    /camera/right/camera_info    sensor_msgs/CameraInfo  P[3] = -fx * B (B = 0.54 m)
    /camera/left/depth_gt        sensor_msgs/Image       32FC1 dense ground truth, NaN = none
    /lidar/points                sensor_msgs/PointCloud2 x, y, z, intensity in frame ``lidar``
    /tf_static                   tf2_msgs/TFMessage      base_link -> cameras, base_link -> lidar

``scene_scale`` and ``crop`` make a drive that differs from the streets the shipped models were
trained on: a scene scaled by ``s`` seen by the same camera gives identical images with depth
and baseline times ``s`` (``s = 0.1``: a 0.2-8 m "miniature street"), and a centre crop keeps
the focal length in pixels on a smaller image (at the network's input size, a longer focal).

The LiDAR cloud holds the sparse scan-line ground truth of synth-street, back-projected from the
left camera and moved into the ``lidar`` frame, which sits 0.3 m behind and 0.1 m above the left
camera with a 3 deg yaw, -2 deg pitch and 1 deg roll (``LIDAR_MOUNT``): projecting it with the
bag's own ``/tf_static`` and CameraInfo must give back the sparse ground truth exactly.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from iid_rdepth_ros.bag import messages as m
from iid_rdepth_ros.bag.transforms import (
    euler_matrix,
    invert_transform,
    make_transform,
    transform_points,
)

STORAGES = ("mcap", "sqlite3")
#: first stamp of a drive (2024-01-01T00:00:00Z): plausible and identical for every run
START_NS = 1_704_067_200_000_000_000
BASE, LEFT, RIGHT, LIDAR = "base_link", "camera_left_optical", "camera_right_optical", "lidar"
TOPICS = {
    "left": "/camera/left/image", "left_info": "/camera/left/camera_info",
    "right": "/camera/right/image", "right_info": "/camera/right/camera_info",
    "depth": "/camera/left/depth_gt", "points": "/lidar/points", "tf": "/tf_static",
}
# base_link: x forward, y left, z up (REP 103); optical: x right, y down, z forward
_OPTICAL_IN_BASE = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
CAMERA_HEIGHT_M = 1.65
#: lidar pose in base_link: translation (m) and roll, pitch, yaw (rad)
LIDAR_MOUNT = ((-0.30, 0.27 - 0.05, CAMERA_HEIGHT_M + 0.10),
               (np.deg2rad(1.0), np.deg2rad(-2.0), np.deg2rad(3.0)))


def mounting(baseline_m: float) -> dict[str, np.ndarray]:
    """``T_base_<frame>`` of the left/right camera optical frames and of the LiDAR."""
    half = baseline_m / 2.0
    (lx, ly, lz), (roll, pitch, yaw) = LIDAR_MOUNT
    return {
        LEFT: make_transform(_OPTICAL_IN_BASE, (0.0, half, CAMERA_HEIGHT_M)),
        RIGHT: make_transform(_OPTICAL_IN_BASE, (0.0, -half, CAMERA_HEIGHT_M)),
        LIDAR: make_transform(euler_matrix(roll, pitch, yaw), (lx, ly, lz)),
    }


@dataclass
class BagSummary:
    """What :func:`write_synth_bag` wrote."""

    path: Path
    storage: str
    frames: int
    seconds: float
    topics: dict[str, str] = field(default_factory=lambda: dict(TOPICS))
    lidar_points: int = 0
    height: int = 0
    width: int = 0


def _qos(transient_local: bool) -> list:
    from rosbags.interfaces import (
        Qos,
        QosDurability,
        QosHistory,
        QosLiveliness,
        QosReliability,
        QosTime,
    )

    default = QosTime(sec=0, nsec=0)  # rosbag2: 0 = the middleware default (infinite)
    return [Qos(history=QosHistory.KEEP_LAST, depth=1 if transient_local else 10,
                reliability=QosReliability.RELIABLE,
                durability=QosDurability.TRANSIENT_LOCAL if transient_local
                else QosDurability.VOLATILE, deadline=default, lifespan=default,
                liveliness=QosLiveliness.AUTOMATIC, liveliness_lease_duration=default,
                avoid_ros_namespace_conventions=False)]


def _prepare(path: Path, overwrite: bool) -> None:
    if path.exists():
        if not overwrite:
            raise FileExistsError(f"{path} exists (pass overwrite / --overwrite to replace it)")
        if not path.is_dir() or not (path / "metadata.yaml").is_file():
            raise FileExistsError(f"{path} exists and is not a rosbag2 directory; not replacing")
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)


def scale_and_crop(frame: dict, scene_scale: float = 1.0,
                   crop: tuple[int, int] | None = None) -> dict:
    """A frame of a scene scaled by ``scene_scale`` (depths and baseline times it, images
    unchanged) and centre-cropped to ``crop`` = (height, width) (principal point moved, focal
    kept)."""
    f = dict(frame)
    if crop is not None:
        h, w = crop
        big_h, big_w = f["left"].shape[:2]
        if not (0 < h <= big_h and 0 < w <= big_w):
            raise ValueError(f"crop {h}x{w} does not fit the {big_h}x{big_w} image")
        y0, x0 = (big_h - h) // 2, (big_w - w) // 2
        for key in ("left", "right", "depth", "lidar"):
            f[key] = np.ascontiguousarray(f[key][y0:y0 + h, x0:x0 + w])
        f["cx"], f["cy"] = float(f["cx"]) - x0, float(f["cy"]) - y0
    if scene_scale != 1.0:
        for key in ("depth", "lidar"):
            f[key] = (f[key] * np.float32(scene_scale)).astype(np.float32)
        f["baseline_m"] = float(f["baseline_m"]) * scene_scale
    return f


def write_synth_bag(path: str | os.PathLike, frames: int, seed: int, height: int = 192,
                    width: int = 640, sequence_length: int = 20, storage: str = "mcap",
                    progress: bool = True, *, overwrite: bool = False,
                    scene_scale: float = 1.0, crop: tuple[int, int] | None = None
                    ) -> BagSummary:
    """Render ``frames`` synth-street frames of ``seed`` into a rosbag2 at ``path`` (see module
    docstring; ``scene_scale`` / ``crop``: :func:`scale_and_crop`); the same arguments give
    the same messages."""
    from iid_rdepth_ros.synth import SynthStreet

    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 1:
        raise ValueError(f"frames must be a positive integer, got {frames!r}")
    if not (np.isfinite(scene_scale) and scene_scale > 0):
        raise ValueError(f"scene_scale must be > 0, got {scene_scale!r}")
    if crop is not None and not (0 < crop[0] <= height and 0 < crop[1] <= width):
        raise ValueError(f"crop {crop[0]}x{crop[1]} does not fit the {height}x{width} image")
    street = SynthStreet(seed, height=height, width=width, sequence_length=sequence_length)
    return write_drive_bag(path, (scale_and_crop(street.frame(i), scene_scale, crop)
                                  for i in range(frames)), frames,
                           street.baseline_m * scene_scale, storage, progress,
                           overwrite=overwrite)


def write_drive_bag(path: str | os.PathLike, frames: Iterable[dict], count: int,
                    baseline_m: float, storage: str = "mcap", progress: bool = True, *,
                    overwrite: bool = False) -> BagSummary:
    """Write frames (dicts as ``SynthStreet.frame`` returns: ``left, right, depth, lidar``,
    ``fx, fy, cx, cy, baseline_m, stamp_ns``) as the drive bag of the module docstring."""
    from rosbags.rosbag2 import StoragePlugin, Writer

    from iid_rdepth_ros.geometry import backproject

    if storage not in STORAGES:
        raise ValueError(f"storage must be one of {', '.join(STORAGES)}, got {storage!r}")
    out = Path(path)
    _prepare(out, overwrite)
    mount = mounting(baseline_m)
    lidar_from_left = invert_transform(mount[LIDAR]) @ mount[LEFT]
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    ts = m.typestore()
    start = time.perf_counter()
    n_points = n_frames = 0
    hw = (0, 0)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=count, desc=f"drive bag ({storage})", unit="frame")
    try:
        with Writer(out, version=9, storage_plugin=plugin) as writer:
            conn = {key: writer.add_connection(topic, _TYPES[key], typestore=ts,
                                               offered_qos_profiles=_qos(key == "tf"))
                    for key, topic in TOPICS.items()}
            writer.write(conn["tf"], START_NS, m.serialize(m.tf_message(
                [(BASE, name, t) for name, t in mount.items()], START_NS)))
            for f in frames:
                stamp = START_NS + int(f["stamp_ns"])
                hw = f["left"].shape[:2]
                k = (float(f["fx"]), float(f["fy"]), float(f["cx"]), float(f["cy"]))
                depth = np.where(f["depth"] > 0, f["depth"], np.nan).astype(np.float32)
                cam = backproject(f["lidar"], *k)
                valid = np.isfinite(cam[..., 2]) & (cam[..., 2] > 0)
                points = transform_points(lidar_from_left, cam[valid])
                gray = f["left"][valid].mean(axis=1) / 255.0
                n_points += len(points)
                # the pair's partners first, the main image last (as a synchronised stereo
                # driver would deliver them; a consumer pairing on the main image has them all)
                msgs = {
                    "left_info": m.camera_info(hw, *k, stamp, LEFT),
                    "right_info": m.camera_info(hw, *k, stamp, RIGHT, float(f["baseline_m"])),
                    "right": m.image(f["right"], "rgb8", stamp, RIGHT),
                    "left": m.image(f["left"], "rgb8", stamp, LEFT),
                    "depth": m.image(depth, "32FC1", stamp, LEFT),
                    "points": m.point_cloud(points, stamp, LIDAR, intensity=gray),
                }
                for key, msg in msgs.items():
                    writer.write(conn[key], stamp, m.serialize(msg))
                n_frames += 1
                if bar is not None:
                    bar.update(1)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)  # never leave half a bag behind
        raise
    finally:
        if bar is not None:
            bar.close()
    return BagSummary(path=out, storage=storage, frames=n_frames,
                      seconds=time.perf_counter() - start, lidar_points=n_points,
                      height=int(hw[0]), width=int(hw[1]))


_TYPES = {"left": m.IMAGE, "left_info": m.CAMERA_INFO, "right": m.IMAGE,
          "right_info": m.CAMERA_INFO, "depth": m.IMAGE, "points": m.POINT_CLOUD2,
          "tf": m.TF_MESSAGE}
