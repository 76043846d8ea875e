"""The node's fast colorizer against the geometry colormap."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("rclpy")


RNG = np.random.default_rng(7)


def test_fast_colorizer_equals_geometry_colorize_depth() -> None:
    from iid_rdepth_ros.geometry.colormap import colorize_depth
    from iid_rdepth_ros.ros.colorize import DepthColorizer

    depth = np.exp(RNG.uniform(np.log(0.2), np.log(120.0), size=(40, 50))).astype(np.float32)
    depth[0, :5] = [np.nan, np.inf, 0.0, -1.0, 0.5]
    colorizer = DepthColorizer()
    for cmap in ("magma", "viridis"):
        for scale in ("log", "inverse", "linear"):
            ours = colorizer(depth, 0.5, 80.0, cmap, scale)
            theirs = colorize_depth(depth, 0.5, 80.0, cmap, order="bgr", scale=scale)
            np.testing.assert_array_equal(ours, theirs)
    assert ours[0, :4].sum() == 0  # invalid pixels are black
    with pytest.raises(ValueError, match="min_depth"):
        colorizer(depth, 5.0, 1.0, "magma")
