"""The node's output messages from one depth map (shared by the node and its benchmark)."""

from __future__ import annotations

import numpy as np
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import Header

from iid_rdepth_ros.geometry.camera import scale_intrinsics
from iid_rdepth_ros.geometry.distortion import Distortion
from iid_rdepth_ros.ros.camera_info import rescale_camera_info
from iid_rdepth_ros.ros.cloud import CloudBuilder
from iid_rdepth_ros.ros.colorize import DepthColorizer
from iid_rdepth_ros.ros.image_codec import array_to_image, depth_to_image
from iid_rdepth_ros.runtime.config import Intrinsics


class OutputBuilder:
    """Builds ``depth/image``, ``depth/camera_info``, ``depth/colorized`` and ``points`` with
    cached colour tables and pixel rays. One instance per thread."""

    def __init__(self) -> None:
        self.colorizer = DepthColorizer()
        self.clouds = CloudBuilder()

    @staticmethod
    def depth(depth: np.ndarray, header: Header) -> Image:
        """``32FC1`` metres, NaN invalid, the input header."""
        return depth_to_image(depth, header)

    @staticmethod
    def confidence(confidence: np.ndarray, header: Header) -> Image:
        """``32FC1`` stereo confidence in [0, 1] at the depth's size, NaN where the depth is
        invalid, the input header."""
        return depth_to_image(confidence, header)

    @staticmethod
    def camera_info(info: CameraInfo, intrinsics: Intrinsics, depth_hw: tuple[int, int],
                    image_hw: tuple[int, int]) -> CameraInfo:
        """The input camera_info with K/P rescaled to the depth image size."""
        return rescale_camera_info(info, intrinsics, depth_hw, image_hw)

    def colorized(self, depth: np.ndarray, header: Header, min_depth: float, max_depth: float,
                  cmap: str) -> Image:
        """``bgr8`` fixed-range colormap of the depth."""
        return array_to_image(self.colorizer(depth, min_depth, max_depth, cmap), "bgr8", header)

    def points(self, depth: np.ndarray, intrinsics: Intrinsics, image_hw: tuple[int, int],
               header: Header, stride: int, rgb: np.ndarray | None,
               distortion: Distortion | None = None) -> PointCloud2:
        """Organised cloud; ``intrinsics`` (P) and ``distortion`` (K and D, for rays through
        the distortion model; None = rays through P) belong to the camera image
        (``image_hw``) and are rescaled when the depth has another size."""
        k = intrinsics if depth.shape == tuple(image_hw) else scale_intrinsics(
            intrinsics, tuple(image_hw), depth.shape)
        if distortion is not None:
            distortion = distortion.scaled(tuple(image_hw), depth.shape)
        return self.clouds.cloud(depth, k, header, stride, rgb, distortion)
