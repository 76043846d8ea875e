"""The network input size for a camera (aspect kept within a pixel budget) and the letterbox."""

from __future__ import annotations

import numpy as np
import pytest

from iid_rdepth_ros.runtime.network_size import fit, network_size

BUDGET = (192, 640)


@pytest.mark.parametrize(("camera", "expected"), [
    ((375, 1242), (192, 640)),   # KITTI: the budget's own aspect
    ((120, 400), (192, 640)),
    ((480, 640), (288, 384)),    # 4:3, exactly
    ((720, 1280), (256, 448)),   # 16:9: 4 padding rows
    ((1080, 1920), (256, 448)),
    ((496, 736), (288, 416)),
    ((400, 400), (320, 320)),
])
def test_sizes_keep_the_aspect_within_the_budget(camera: tuple[int, int],
                                                 expected: tuple[int, int]) -> None:
    size = network_size(camera, BUDGET)
    assert size == expected
    assert size[0] % 32 == 0 and size[1] % 32 == 0
    assert size[0] * size[1] <= BUDGET[0] * BUDGET[1]
    placement = fit(camera, size)
    sx, sy = placement.scale_xy
    assert abs(sx - sy) / sx < 0.01, "the image is scaled alike in x and y"
    assert placement.padding_share < 0.05


def test_budget_scales_and_is_checked() -> None:
    assert network_size((480, 640), (96, 320)) == (160, 192)
    assert network_size((480, 640), (384, 1280)) == (608, 800)  # 8 padding rows
    with pytest.raises(ValueError, match="below one 32x32 block"):
        network_size((480, 640), (8, 8))
    with pytest.raises(ValueError, match="camera size must be positive"):
        network_size((0, 640), BUDGET)


def test_fit_centres_the_content_and_crops_it_back() -> None:
    placement = fit((480, 640), (192, 640))  # a 4:3 camera in a 10:3 graph
    assert placement.content_hw == (192, 256) and placement.offset == (0, 192)
    assert placement.padding_share == pytest.approx(0.6)
    net = np.arange(192 * 640, dtype=np.float32).reshape(1, 1, 192, 640)
    crop = placement.crop(net)
    assert crop.shape == (1, 1, 192, 256) and crop[0, 0, 0, 0] == 192
    same = fit((120, 400), (96, 320))
    assert not same.padded and same.scale_xy == (0.8, 0.8)
