"""Fixed-range colormaps of depth and error images."""

import math

import numpy as np
import pytest

from iid_rdepth_ros.geometry import colorize_depth, colorize_error
from iid_rdepth_ros.geometry.colormap import colormap_lut


def test_colorize_depth_fixed_range() -> None:
    lut = colormap_lut("magma")
    assert lut.shape == (256, 3) and lut.dtype == np.uint8
    a = np.array([[1.0, 10.0, 80.0, 500.0, 0.0, np.nan]])
    b = np.array([[10.0, 10.0, 10.0, 10.0, 10.0, 10.0]])  # different content, same 10 m
    for scale in ("log", "inverse", "linear"):
        ca, cb = colorize_depth(a, scale=scale), colorize_depth(b, scale=scale)
        assert ca.shape == (1, 6, 3) and ca.dtype == np.uint8
        np.testing.assert_array_equal(ca[0, 1], cb[0, 1])  # never normalised per frame
        np.testing.assert_array_equal(ca[0, 0], lut[255])  # near end
        np.testing.assert_array_equal(ca[0, 2], lut[0])  # far end
        np.testing.assert_array_equal(ca[0, 3], lut[0])  # beyond: clipped
        np.testing.assert_array_equal(ca[0, 4:], 0)  # invalid -> black
    expected = {
        "log": math.log(80 / 10) / math.log(80 / 1),
        "inverse": (1 / 10 - 1 / 80) / (1 - 1 / 80),
        "linear": (80 - 10) / (80 - 1),
    }
    for scale, t in expected.items():
        np.testing.assert_array_equal(colorize_depth(a, scale=scale)[0, 1], lut[round(t * 255)])
    np.testing.assert_array_equal(colorize_depth(a, order="bgr"), colorize_depth(a)[..., ::-1])
    with pytest.raises(ValueError, match="scale"):
        colorize_depth(a, scale="sqrt")


def test_colorize_error_and_bad_args() -> None:
    lut = colormap_lut("inferno")
    err = np.array([[0.0, 0.25, 1.0]])
    c = colorize_error(err, max_error=0.5)
    np.testing.assert_array_equal(c[0], [lut[0], lut[128], lut[255]])
    with pytest.raises(ValueError, match="min_depth"):
        colorize_depth(a := np.ones((2, 2)), min_depth=5.0, max_depth=1.0)
    with pytest.raises(ValueError, match="2-D"):
        colorize_depth(a[None])
    with pytest.raises(ValueError, match="unknown colormap"):
        colormap_lut("no-such-map")
