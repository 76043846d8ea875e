"""Camera geometry helpers shared by evaluation, the demo and the ROS node (numpy only)."""

from iid_rdepth_ros.geometry.backproject import backproject, intrinsics_matrix, point_cloud
from iid_rdepth_ros.geometry.colormap import (
    colorize,
    colorize_depth,
    colorize_error,
    depth_to_unit,
)
from iid_rdepth_ros.geometry.ply import write_ply

__all__ = [
    "backproject",
    "colorize",
    "colorize_depth",
    "colorize_error",
    "depth_to_unit",
    "intrinsics_matrix",
    "point_cloud",
    "write_ply",
]
