"""Pre/post-processing as torch ops on the inference device: the GPU fast path's half of
``runtime/processing.py``, with the same conventions and the same numbers.

- Camera image ``(H, W, 3) uint8`` -> network tensor ``(1, 3, h, w) float32`` in ``[0, 1]``:
  the resize OpenCV does in ``processing.resize_image`` (INTER_AREA when shrinking both axes,
  INTER_LINEAR otherwise) as two separable resamplings with precomputed taps (each output
  pixel a weighted sum of a few input pixels: gathers and multiply-adds in float32, no
  matmul, so TF32 settings cannot change it), rounded to uint8 levels as OpenCV rounds its
  uint8 output, then ``/ 255``.
- Network depth at the canonical focal -> metres for the camera: times ``f_net /
  canonical_focal``, bilinear resize to the camera size with the same kind of taps
  (half-pixel centres, edges clamped: OpenCV's INTER_LINEAR), NaN outside
  ``[min_depth, max_depth]``.

Against the numpy path: identical network inputs when the camera image is shrunk (the usual
case), at most one grey level apart when it is enlarged (OpenCV's uint8 INTER_LINEAR uses
11-bit fixed-point weights); depth within float32 rounding.

Runs on any torch device. On the CPU it reproduces the numpy path (tests); on a GPU the runner
captures it with the network in one CUDA graph per input size (``runtime/cuda_graphs.py``),
so a frame costs one host-to-device copy of the uint8 image and one copy of the depth back.
The frame checks are those of ``processing.preprocess`` (same messages).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from iid_rdepth_ros.geometry.camera import Intrinsics
from iid_rdepth_ros.runtime.config import OUTPUT_RESOLUTIONS
from iid_rdepth_ros.runtime.network_size import fit
from iid_rdepth_ros.runtime.processing import stereo_fb, validate_image

if TYPE_CHECKING:
    import torch

#: OpenCV ignores fractional area coverage below this (``resize`` INTER_AREA)
_AREA_EPS = 1e-3


def area_taps(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV INTER_AREA (``n_out <= n_in``) along one axis: ``(index, weight)``, each
    ``(n_out, K)``; output ``i`` = ``sum_k weight[i, k] * input[index[i, k]]``. Every output
    pixel averages the input interval ``[i * s, (i + 1) * s)``, ``s = n_in / n_out``, with
    fractional coverage at its ends."""
    if not 0 < n_out <= n_in:
        raise ValueError(f"area resampling shrinks: {n_in} -> {n_out}")
    scale = n_in / n_out
    rows: list[list[tuple[int, float]]] = []
    for i in range(n_out):
        start = i * scale
        end = start + scale
        cell = min(scale, n_in - start)
        first, last = math.ceil(start), min(math.floor(end), n_in - 1)
        taps = []
        if first - start > _AREA_EPS:
            taps.append((first - 1, (first - start) / cell))
        taps += [(j, 1.0 / cell) for j in range(first, last)]
        if min(end, n_in) - last > _AREA_EPS:
            taps.append((last, min(min(end - last, 1.0), cell) / cell))
        rows.append(taps)
    return _pack(rows)


def linear_taps(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV INTER_LINEAR along one axis (half-pixel centres, edges clamped): two taps."""
    scale = n_in / n_out
    rows = []
    for i in range(n_out):
        x = (i + 0.5) * scale - 0.5
        left = math.floor(x)
        frac = x - left
        if left < 0:
            left, frac = 0, 0.0
        if left >= n_in - 1:
            left, frac = n_in - 1, 0.0
        rows.append([(left, 1.0 - frac), (min(left + 1, n_in - 1), frac)])
    return _pack(rows)


def _pack(rows: list[list[tuple[int, float]]]) -> tuple[np.ndarray, np.ndarray]:
    width = max(len(r) for r in rows)
    index = np.zeros((len(rows), width), np.int64)
    weight = np.zeros((len(rows), width), np.float64)
    for i, taps in enumerate(rows):
        for k, (j, w) in enumerate(taps):
            index[i, k], weight[i, k] = j, w
    return index, weight


def resize_taps(in_hw: tuple[int, int], out_hw: tuple[int, int]
                ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """(rows, columns) taps for an image resize, choosing as ``processing.resize_image``:
    INTER_AREA when both axes shrink (or stay), INTER_LINEAR otherwise."""
    (h_in, w_in), (h_out, w_out) = in_hw, out_hw
    taps = area_taps if h_out <= h_in and w_out <= w_in else linear_taps
    return taps(h_in, h_out), taps(w_in, w_out)


def taps_matrix(index: np.ndarray, weight: np.ndarray, n_in: int) -> np.ndarray:
    """The dense ``(n_out, n_in)`` resampling matrix of a set of taps (for tests)."""
    out = np.zeros((index.shape[0], n_in))
    np.add.at(out, (np.arange(index.shape[0])[:, None].repeat(index.shape[1], 1), index),
              weight)
    return out


@dataclass(frozen=True)
class FrameGeometry:
    """What a checked frame contributes besides its pixels."""

    input_hw: tuple[int, int]
    f_net: float  # focal length in pixels at the network size
    fb: float | None  # canonical_focal * baseline (stereo), else None


def check_frame(image: Any, network_hw: tuple[int, int], intrinsics: Any,
                aux: Any = None, baseline_m: float | None = None,
                canonical_focal: float | None = None,
                output_resolution: str = "input") -> FrameGeometry:
    """The checks of ``processing.preprocess`` / ``postprocess`` (same ValueErrors), without
    touching the pixels; returns the frame's geometry."""
    validate_image(image, "image")
    if not isinstance(intrinsics, Intrinsics):
        raise ValueError(f"intrinsics must be an Intrinsics, got {type(intrinsics).__name__}")
    intrinsics.validate()
    if output_resolution not in OUTPUT_RESOLUTIONS:
        raise ValueError(f"output_resolution must be one of {', '.join(OUTPUT_RESOLUTIONS)}, "
                         f"got {output_resolution!r}")
    height, width = image.shape[:2]
    fb = None
    if aux is not None:
        validate_image(aux, "aux")
        if aux.shape != image.shape:
            raise ValueError(
                f"aux image size {aux.shape[1]}x{aux.shape[0]} differs from the main image "
                f"size {width}x{height}")
        if baseline_m is None:
            raise ValueError("baseline_m is required with an aux image (metres, > 0)")
        if not math.isfinite(float(baseline_m)) or float(baseline_m) <= 0:
            raise ValueError(f"baseline_m must be a finite number > 0, got {baseline_m!r}")
        if canonical_focal is None or not canonical_focal > 0:
            raise ValueError("canonical_focal (> 0) is required to form fb for stereo")
        fb = stereo_fb(canonical_focal, baseline_m)
    scale_x = fit((height, width), network_hw).scale_xy[0]
    return FrameGeometry((height, width), float(intrinsics.fx) * scale_x, fb)


def _reflect_101(n_content: int, n_out: int, offset: int) -> np.ndarray:
    """Source index in the content for each of ``n_out`` positions, the content starting at
    ``offset`` (OpenCV's BORDER_REFLECT_101 outside it)."""
    idx = np.arange(n_out) - offset
    period = max(2 * n_content - 2, 1)
    idx = np.abs(np.mod(idx, period))
    return np.where(idx >= n_content, period - idx, idx).astype(np.int64)


class DeviceProcessing:
    """Pre/post-processing for one camera size on one device (taps kept there): the image is
    scaled by one factor into the network input and letterboxed (``runtime.network_size``),
    as ``processing.preprocess`` does."""

    def __init__(self, input_hw: tuple[int, int], network_hw: tuple[int, int],
                 device: torch.device | str, min_depth: float, max_depth: float) -> None:
        import torch

        self.input_hw = tuple(input_hw)
        self.network_hw = tuple(network_hw)
        self.min_depth, self.max_depth = float(min_depth), float(max_depth)
        self.fit = fit(self.input_hw, self.network_hw)
        self.same_size = self.input_hw == self.fit.content_hw
        rows, cols = resize_taps(self.input_hw, self.fit.content_hw)
        (big_h, big_w), (h, w) = self.input_hw, self.fit.content_hw
        # OpenCV rounds half up in its integer paths (area at integer factors, fixed-point
        # linear) and half to even where it sums in float (area at fractional factors)
        fractional_area = h <= big_h and w <= big_w and (big_h % h or big_w % w)
        self._half_up = not fractional_area

        def on_device(taps: tuple[np.ndarray, np.ndarray]) -> tuple[torch.Tensor, ...]:
            index, weight = taps
            return (torch.as_tensor(index, device=device),
                    torch.as_tensor(weight, dtype=torch.float32, device=device))

        self._rows, self._cols = on_device(rows), on_device(cols)
        self._depth_rows = on_device(linear_taps(h, big_h))
        self._depth_cols = on_device(linear_taps(w, big_w))
        top, left = self.fit.offset
        self._pad = None
        if self.fit.padded:
            self._pad = (torch.as_tensor(_reflect_101(h, self.network_hw[0], top), device=device),
                         torch.as_tensor(_reflect_101(w, self.network_hw[1], left),
                                         device=device))

    @staticmethod
    def _resample(x: torch.Tensor, taps: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """Resample the last axis of ``x`` with ``taps``."""
        index, weight = taps
        return (x[..., index] * weight).sum(-1)

    def image(self, image: torch.Tensor) -> torch.Tensor:
        """``(H, W, 3) uint8`` on the device -> ``(1, 3, h, w) float32`` in [0, 1]."""
        x = image.permute(2, 0, 1).float()  # (3, H, W)
        if not self.same_size:
            x = self._resample(x, self._cols)  # (3, H, w)
            x = self._resample(x.transpose(1, 2), self._rows).transpose(1, 2)  # (3, h, w)
            x = (x + 0.5).floor_() if self._half_up else x.round()  # OpenCV's uint8 output
        if self._pad is not None:
            x = x[:, self._pad[0]][:, :, self._pad[1]]
        return (x * (1.0 / 255.0)).unsqueeze(0).contiguous()

    def _content(self, x: torch.Tensor) -> torch.Tensor:
        return self.fit.crop(x) if self.fit.padded else x  # type: ignore[return-value]

    def depth(self, depth: torch.Tensor, scale: torch.Tensor | float,
              output_resolution: str = "input") -> torch.Tensor:
        """Network depth ``(1, 1, h, w)`` (canonical focal) -> ``(H, W)`` float32 metres
        (``output_resolution="network"``: ``(h, w)``), NaN where invalid; ``scale`` is
        ``f_net / canonical_focal`` (a tensor on the device, or a number)."""
        import torch

        out = self._content(depth.float().reshape(depth.shape[-2:])) * scale
        if output_resolution == "input" and tuple(out.shape) != self.input_hw:
            out = self._resample(out, self._depth_cols)
            out = self._resample(out.t(), self._depth_rows).t()
        valid = torch.isfinite(out) & (out >= self.min_depth) & (out <= self.max_depth)
        return torch.where(valid, out, torch.full_like(out, float("nan")))

    def confidence(self, confidence: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        """Network confidence -> ``[0, 1]`` at ``depth``'s size, NaN where depth is NaN
        (``processing.postprocess_confidence``)."""
        import torch

        conf = self._content(confidence.float().reshape(confidence.shape[-2:]))
        if tuple(conf.shape) != tuple(depth.shape):
            conf = self._resample(conf, self._depth_cols)
            conf = self._resample(conf.t(), self._depth_rows).t()
        return torch.where(torch.isnan(depth), depth, conf.clamp(0.0, 1.0))
