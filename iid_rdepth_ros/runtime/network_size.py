"""The network input size for a camera, and how a camera image fits into it (aspect kept).

The network never squashes an image: a camera image is scaled by one factor in both
directions to fit the network input and the rest is padded (letterboxing). Which network
size a camera gets is decided here once, for the node, the runners, ``eval-bag``, the
benchmarks and ``export``: within a pixel budget (``input_height x input_width`` of a
:class:`~iid_rdepth_ros.runtime.config.RunnerConfig`), the size in multiples of 32 that holds
the most camera pixels, each padding pixel counting against it. A camera of the budget's own
aspect gets exactly the budget's size (1242x375 -> 192x640 for the default budget), a 4:3
camera 288x384, a 16:9 one 256x448 (4 padding rows).

ONNX graphs and TensorRT engines have one fixed size each: ``iid-rdepth export --camera WxH``
exports at the size chosen here (the ONNX cache is keyed by size), and an engine built from
that graph serves that camera. A graph or engine of another aspect still works (the image is
letterboxed into it), with fewer camera pixels in the network.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: network input sizes are multiples of this (the encoder's total stride)
MULTIPLE = 32


def _check_hw(hw: tuple[int, int], name: str) -> tuple[int, int]:
    h, w = (int(v) for v in hw)
    if h < 1 or w < 1:
        raise ValueError(f"{name} must be positive (height, width), got {tuple(hw)}")
    return h, w


@dataclass(frozen=True)
class Fit:
    """How a camera image sits in the network input: scaled, then padded around."""

    camera_hw: tuple[int, int]
    network_hw: tuple[int, int]
    content_hw: tuple[int, int]  # size of the scaled camera image inside the network input
    offset: tuple[int, int]  # (top, left) of the content in the network input

    @property
    def scale_xy(self) -> tuple[float, float]:
        """Network pixels per camera pixel, (x, y) (equal up to rounding to whole pixels)."""
        return (self.content_hw[1] / self.camera_hw[1], self.content_hw[0] / self.camera_hw[0])

    @property
    def padded(self) -> bool:
        """True when the content does not fill the network input."""
        return self.content_hw != self.network_hw

    @property
    def padding_share(self) -> float:
        """Share of the network input that is padding (0 when the aspects agree)."""
        net = self.network_hw[0] * self.network_hw[1]
        return 1.0 - self.content_hw[0] * self.content_hw[1] / net

    def crop(self, array: object) -> object:
        """The content region of a network-sized array (last two axes)."""
        top, left = self.offset
        h, w = self.content_hw
        return array[..., top:top + h, left:left + w]  # type: ignore[index]


def fit(camera_hw: tuple[int, int], network_hw: tuple[int, int]) -> Fit:
    """The camera image scaled by one factor to fit ``network_hw``, centred (letterbox)."""
    cam_h, cam_w = _check_hw(camera_hw, "camera size")
    net_h, net_w = _check_hw(network_hw, "network size")
    scale = min(net_h / cam_h, net_w / cam_w)
    content = (min(net_h, max(1, round(cam_h * scale))), min(net_w, max(1, round(cam_w * scale))))
    offset = ((net_h - content[0]) // 2, (net_w - content[1]) // 2)
    return Fit((cam_h, cam_w), (net_h, net_w), content, offset)


def _score(camera_hw: tuple[int, int], hw: tuple[int, int]) -> tuple[int, int]:
    f = fit(camera_hw, hw)
    content = f.content_hw[0] * f.content_hw[1]
    return 2 * content - hw[0] * hw[1], -hw[0] * hw[1]  # content - padding; then fewer pixels


def network_size(camera_hw: tuple[int, int], budget_hw: tuple[int, int],
                 multiple: int = MULTIPLE) -> tuple[int, int]:
    """The network input ``(h, w)`` for a camera of ``camera_hw``: multiples of ``multiple``,
    at most ``budget_hw[0] * budget_hw[1]`` pixels, holding the most camera pixels with each
    padding pixel counted against it (see the module docstring)."""
    cam_h, cam_w = _check_hw(camera_hw, "camera size")
    bud_h, bud_w = _check_hw(budget_hw, "pixel budget")
    budget = bud_h * bud_w
    if budget < multiple * multiple:
        raise ValueError(f"pixel budget {bud_h}x{bud_w} is below one {multiple}x{multiple} "
                         "block")
    aspect = cam_w / cam_h
    best: tuple[int, int] | None = None
    best_score: tuple[int, int] | None = None
    for h in range(multiple, budget // multiple + 1, multiple):
        w_max = budget // h // multiple * multiple
        if w_max < multiple:
            break
        ideal = h * aspect / multiple
        for w in {math.floor(ideal) * multiple, math.ceil(ideal) * multiple}:
            w = min(max(w, multiple), w_max)
            score = _score((cam_h, cam_w), (h, w))
            if best_score is None or score > best_score:
                best, best_score = (h, w), score
    assert best is not None
    return best
