"""Pre- and post-processing shared by every backend (resize, [0,1], focal rescale, clip, NaN).

Kept here once so torch, onnxruntime and TensorRT produce the same depth from the same network
output. Conventions are those of docs/interfaces.md: images ``(H, W, 3) uint8`` RGB in, network
tensors ``(1, 3, h, w) float32`` in ``[0, 1]``, network depth at the canonical focal, rescaled
here by ``f_net / canonical_focal``. The image keeps its aspect ratio: it is scaled by one
factor ``s`` to fit ``(h, w)`` and padded around (``network_size.fit``; reflected borders), so
``f_net = fx * s``; post-processing crops the padding off again. The stereo input is
``fb = canonical_focal * baseline`` (``model.focal.stereo_fb``): the network matches in its own
canonical-depth space, where the disparity of canonical depth ``Z_c`` is ``f_c * B / Z_c``.

Rectified stereo (the convention of ``stereo_image_proc``): both cameras share fx, fy and cy;
the right camera's principal point may lie elsewhere in x (``cx_r != cx_l``), which shifts
every disparity by ``cx_l - cx_r``. Given the aux camera's intrinsics, the aux image is moved
(sub-pixel, at network resolution) so that its principal point coincides with the main
camera's; the network then sees the pair as if ``cx_r == cx_l``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from iid_rdepth_ros.artifacts.lazy_import import lazy_import
from iid_rdepth_ros.geometry.camera import Intrinsics
from iid_rdepth_ros.runtime.config import OUTPUT_RESOLUTIONS
from iid_rdepth_ros.runtime.network_size import Fit, fit

#: relative focal-length difference above which two cameras are not a rectified pair
RECTIFIED_FOCAL_RTOL = 0.01

if TYPE_CHECKING:
    from types import ModuleType


def _cv2() -> ModuleType:
    return lazy_import("cv2", "image resizing")


@dataclass(frozen=True)
class NetworkInput:
    """Tensors for one forward pass plus what post-processing needs to undo the resize."""

    image: np.ndarray  # (1, 3, h, w) float32 in [0, 1]
    aux: np.ndarray | None  # same shape, or None for mono
    fb: np.ndarray | None  # (1,) float32, canonical_focal * baseline (pixels * m), stereo only
    f_net: float  # focal length in pixels at the network size
    input_hw: tuple[int, int]  # (H, W) of the camera image
    network_hw: tuple[int, int]  # (h, w)
    fit: Fit | None = None  # where the camera image sits in (h, w); None: fills it
    aux_shift: tuple[float, float] = (0.0, 0.0)  # (x, y) network pixels the aux was moved by

    @property
    def content_hw(self) -> tuple[int, int]:
        """Size of the camera image inside the network input (the depth's network size)."""
        return self.fit.content_hw if self.fit is not None else self.network_hw

    @property
    def stereo(self) -> bool:
        """True when the auxiliary view is present."""
        return self.aux is not None


def validate_image(image: object, name: str = "image") -> np.ndarray:
    """Check an ``(H, W, 3) uint8`` RGB array and return it; ValueError otherwise."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"{name} must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"{name} must be uint8 RGB, got dtype {image.dtype}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{name} must have shape (H, W, 3), got {image.shape}")
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise ValueError(f"{name} is too small: {image.shape[1]}x{image.shape[0]} pixels")
    return image


def resize_image(image: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """Resize an image to ``(h, w)``: INTER_AREA when shrinking, INTER_LINEAR otherwise."""
    h, w = size_hw
    if image.shape[:2] == (h, w):
        return image
    cv2 = _cv2()
    shrink = h <= image.shape[0] and w <= image.shape[1]
    interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(image), (w, h), interpolation=interp)


def shift_image(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """``image`` moved by ``(dx, dy)`` pixels (sub-pixel, bilinear); uncovered pixels are 0."""
    if dx == 0.0 and dy == 0.0:
        return image
    cv2 = _cv2()
    matrix = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]], dtype=np.float64)
    h, w = image.shape[:2]
    return cv2.warpAffine(np.ascontiguousarray(image), matrix, (w, h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def _to_tensor(image: np.ndarray, placement: Fit,
               shift: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    resized = shift_image(resize_image(image, placement.content_hw), *shift)
    if placement.padded:
        top, left = placement.offset
        bottom = placement.network_hw[0] - placement.content_hw[0] - top
        right = placement.network_hw[1] - placement.content_hw[1] - left
        resized = _cv2().copyMakeBorder(resized, top, bottom, left, right,
                                        _cv2().BORDER_REFLECT_101)
    chw = resized.transpose(2, 0, 1)[None].astype(np.float32) * np.float32(1.0 / 255.0)
    return np.ascontiguousarray(chw)


def aux_shift(intrinsics: Intrinsics, aux_intrinsics: Intrinsics) -> tuple[float, float]:
    """Camera pixels ``(dx, dy)`` that move the aux image's principal point onto the main
    camera's; ValueError when the two cameras are not a rectified pair (focal lengths
    differ by more than :data:`RECTIFIED_FOCAL_RTOL`)."""
    aux_intrinsics.validate()
    for name in ("fx", "fy"):
        main, aux = float(getattr(intrinsics, name)), float(getattr(aux_intrinsics, name))
        if abs(aux - main) > RECTIFIED_FOCAL_RTOL * main:
            raise ValueError(
                f"aux camera is not rectified with the main camera: {name} {aux:g} vs {main:g} "
                "(a rectified pair shares fx and fy)")
    return (float(intrinsics.cx) - float(aux_intrinsics.cx),
            float(intrinsics.cy) - float(aux_intrinsics.cy))


def stereo_fb(canonical_focal: float, baseline_m: float) -> float:
    """The network's stereo input: canonical focal (pixels) x baseline (metres)."""
    return float(canonical_focal) * float(baseline_m)


def preprocess(
    image: np.ndarray,
    network_hw: tuple[int, int],
    intrinsics: Intrinsics,
    aux: np.ndarray | None = None,
    baseline_m: float | None = None,
    canonical_focal: float | None = None,
    aux_intrinsics: Intrinsics | None = None,
) -> NetworkInput:
    """Validate the inputs and build the network tensors (see module docstring).

    ``canonical_focal`` (the model's) is needed with ``aux`` to form ``fb``;
    ``aux_intrinsics`` (the aux camera's, at the aux image's size) moves the aux image so its
    principal point lands on the main camera's.
    """
    validate_image(image, "image")
    if not isinstance(intrinsics, Intrinsics):
        raise ValueError(f"intrinsics must be an Intrinsics, got {type(intrinsics).__name__}")
    intrinsics.validate()
    height, width = image.shape[:2]
    placement = fit((height, width), network_hw)
    scale_x, scale_y = placement.scale_xy
    f_net = float(intrinsics.fx) * scale_x
    fb = None
    aux_tensor = None
    shift = (0.0, 0.0)
    if aux is not None:
        validate_image(aux, "aux")
        if aux.shape != image.shape:
            raise ValueError(
                f"aux image size {aux.shape[1]}x{aux.shape[0]} differs from the main image "
                f"size {width}x{height}"
            )
        if baseline_m is None:
            raise ValueError("baseline_m is required with an aux image (metres, > 0)")
        if not math.isfinite(float(baseline_m)) or float(baseline_m) <= 0:
            raise ValueError(f"baseline_m must be a finite number > 0, got {baseline_m!r}")
        if canonical_focal is None or not canonical_focal > 0:
            raise ValueError("canonical_focal (> 0) is required to form fb for stereo")
        if aux_intrinsics is not None:
            dx, dy = aux_shift(intrinsics, aux_intrinsics)
            shift = (dx * scale_x, dy * scale_y)
        aux_tensor = _to_tensor(aux, placement, shift)
        fb = np.array([stereo_fb(canonical_focal, baseline_m)], dtype=np.float32)
    return NetworkInput(
        image=_to_tensor(image, placement), aux=aux_tensor, fb=fb, f_net=f_net,
        input_hw=(height, width), network_hw=tuple(network_hw), fit=placement, aux_shift=shift,
    )


def postprocess(
    depth: np.ndarray,
    prepared: NetworkInput,
    canonical_focal: float,
    min_depth: float,
    max_depth: float,
    output_resolution: str = "input",
) -> np.ndarray:
    """Network depth (canonical focal) -> ``float32`` metres for the camera; NaN where invalid.

    The padding is cropped off (``"network"`` gives the camera image's size inside the network
    input), depth is scaled by ``f_net / canonical_focal``, upsampled bilinearly to the camera
    image size for ``output_resolution="input"``, and values that are non-finite or outside
    ``[min_depth, max_depth]`` become NaN.
    """
    if output_resolution not in OUTPUT_RESOLUTIONS:
        raise ValueError(
            f"output_resolution must be one of {', '.join(OUTPUT_RESOLUTIONS)}, "
            f"got {output_resolution!r}"
        )
    if not (math.isfinite(canonical_focal) and canonical_focal > 0):
        raise ValueError(f"canonical_focal must be finite and > 0, got {canonical_focal!r}")
    net = np.asarray(depth, dtype=np.float32)
    net = net.reshape(net.shape[-2:]) if net.ndim > 2 else net
    if net.shape != tuple(prepared.network_hw):
        raise ValueError(f"network depth has shape {net.shape}, expected {prepared.network_hw}")
    if prepared.fit is not None and prepared.fit.padded:
        net = prepared.fit.crop(net)
    out = net * np.float32(prepared.f_net / canonical_focal)
    if output_resolution == "input" and out.shape != tuple(prepared.input_hw):
        height, width = prepared.input_hw
        out = _cv2().resize(out, (width, height), interpolation=_cv2().INTER_LINEAR)
    out = np.array(out, dtype=np.float32, copy=True)
    with np.errstate(invalid="ignore"):
        invalid = ~np.isfinite(out) | (out < min_depth) | (out > max_depth)
    out[invalid] = np.nan
    return out


def mask_depth(depth: np.ndarray, confidence: np.ndarray | None, lo: float = 0.0,
               hi: float = float("inf"), min_confidence: float = 0.0) -> None:
    """In place: depth outside ``[lo, hi]`` or, with ``min_confidence`` > 0, whose confidence
    is below it becomes NaN; the confidence is NaN wherever the depth is."""
    with np.errstate(invalid="ignore"):
        invalid = (depth < lo) | (depth > hi)
        if confidence is not None and min_confidence > 0:
            invalid |= confidence < min_confidence
    depth[invalid] = np.nan
    if confidence is not None:
        confidence[~np.isfinite(depth)] = np.nan


def postprocess_confidence(confidence: np.ndarray, prepared: NetworkInput, depth: np.ndarray
                           ) -> np.ndarray:
    """Network confidence -> ``float32`` in [0, 1] at the size of ``depth`` (the post-processed
    depth), NaN where the depth is invalid."""
    conf = np.asarray(confidence, dtype=np.float32)
    conf = conf.reshape(conf.shape[-2:]) if conf.ndim > 2 else conf
    if conf.shape != tuple(prepared.network_hw):
        raise ValueError(f"network confidence has shape {conf.shape}, expected "
                         f"{prepared.network_hw}")
    if prepared.fit is not None and prepared.fit.padded:
        conf = prepared.fit.crop(conf)
    if conf.shape != depth.shape:
        conf = _cv2().resize(conf, (depth.shape[1], depth.shape[0]),
                             interpolation=_cv2().INTER_LINEAR)
    out = np.clip(conf, 0.0, 1.0).astype(np.float32, copy=True)
    out[~np.isfinite(depth)] = np.nan
    return out
