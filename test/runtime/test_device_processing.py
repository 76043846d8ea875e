"""Pre/post-processing as torch ops (the GPU path's maths) equals the numpy/OpenCV path.

Run here on CPU tensors; on a GPU the same functions run inside the captured CUDA graph
(test_cuda_graphs.py checks graph == eager there).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from iid_rdepth_ros.runtime.config import Intrinsics
from iid_rdepth_ros.runtime.device_processing import (
    DeviceProcessing,
    area_taps,
    check_frame,
    linear_taps,
    taps_matrix,
)
from iid_rdepth_ros.runtime.network_size import fit
from iid_rdepth_ros.runtime.processing import postprocess, postprocess_confidence, preprocess

RNG = np.random.default_rng(3)
SHRINK = [((375, 1242), (192, 640)), ((375, 1242), (352, 1216)), ((384, 1280), (192, 640)),
          ((480, 640), (192, 256)), ((376, 672), (192, 320)), ((192, 700), (192, 640))]
ENLARGE = [((100, 300), (192, 640)), ((200, 320), (192, 640)), ((300, 600), (192, 640))]


def _image(hw: tuple[int, int]) -> np.ndarray:
    return RNG.integers(0, 256, (*hw, 3), dtype=np.uint8)


def _intrinsics(hw: tuple[int, int]) -> Intrinsics:
    return Intrinsics(0.9 * hw[1], 0.9 * hw[1], hw[1] / 2, hw[0] / 2)


@pytest.mark.parametrize(("n_in", "n_out"), [(1242, 640), (375, 192), (1280, 640), (7, 3)])
def test_area_taps_are_opencv_inter_area(n_in: int, n_out: int) -> None:
    index, weight = area_taps(n_in, n_out)
    matrix = taps_matrix(index, weight, n_in)
    assert np.allclose(matrix.sum(1), 1.0)
    row = RNG.random((4, n_in)).astype(np.float32)  # OpenCV takes another path for 1 row
    ref = cv2.resize(row, (n_out, 4), interpolation=cv2.INTER_AREA)[0]
    assert np.allclose(matrix @ row[0], ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("n_in", "n_out"), [(192, 375), (640, 1242), (300, 640), (640, 300)])
def test_linear_taps_are_opencv_inter_linear(n_in: int, n_out: int) -> None:
    index, weight = linear_taps(n_in, n_out)
    row = RNG.random((4, n_in)).astype(np.float32)
    ref = cv2.resize(row, (n_out, 4), interpolation=cv2.INTER_LINEAR)[0]
    assert np.allclose(taps_matrix(index, weight, n_in) @ row[0], ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("camera", "network"), SHRINK + ENLARGE)
def test_network_input_equals_the_numpy_path(camera: tuple[int, int],
                                             network: tuple[int, int]) -> None:
    image = _image(camera)
    ref = preprocess(image, network, _intrinsics(camera)).image
    out = DeviceProcessing(camera, network, "cpu", 1e-3, 80.0).image(torch.from_numpy(image))
    assert out.shape == ref.shape and out.dtype == torch.float32
    levels = np.abs(out.numpy() - ref) * 255
    if (camera, network) in SHRINK:  # OpenCV's INTER_AREA: identical
        assert levels.max() < 1e-3
    else:  # INTER_LINEAR on uint8 uses 11-bit fixed-point weights: a level apart at most
        assert levels.max() < 1 + 1e-3 and (levels > 0.5).mean() < 0.2


@pytest.mark.parametrize(("camera", "network"), [((375, 1242), (192, 640)),
                                                 ((100, 300), (192, 640)),
                                                 ((192, 640), (192, 640))])
@pytest.mark.parametrize("resolution", ["input", "network"])
def test_depth_and_confidence_equal_the_numpy_path(camera: tuple[int, int],
                                                   network: tuple[int, int],
                                                   resolution: str) -> None:
    prepared = preprocess(_image(camera), network, _intrinsics(camera))
    net = RNG.uniform(0.5, 120.0, network).astype(np.float32)  # some beyond the range
    net[0, 0] = np.inf
    canonical = 600.0
    ref = postprocess(net, prepared, canonical, 1.0, 80.0, resolution)
    proc = DeviceProcessing(camera, network, "cpu", 1.0, 80.0)
    out = proc.depth(torch.from_numpy(net)[None, None], torch.tensor([prepared.f_net / canonical]),
                     resolution).numpy()
    assert out.shape == ref.shape and out.dtype == np.float32
    assert np.array_equal(np.isnan(out), np.isnan(ref))
    ok = np.isfinite(ref)
    assert np.allclose(out[ok], ref[ok], rtol=1e-5)
    conf = RNG.uniform(-0.2, 1.2, network).astype(np.float32)
    ref_conf = postprocess_confidence(conf, prepared, ref)
    out_conf = proc.confidence(torch.from_numpy(conf), torch.from_numpy(out)).numpy()
    assert np.array_equal(np.isnan(out_conf), np.isnan(ref_conf))
    assert np.allclose(out_conf[ok], ref_conf[ok], atol=1e-6)


GOOD = _image((100, 120))


@pytest.mark.parametrize(
    "kwargs",
    [{"image": np.zeros((10, 10, 3), np.float32)}, {"image": np.zeros((10, 10), np.uint8)},
     {"image": [[0]]}, {"aux": np.zeros((100, 100, 3), np.uint8), "baseline_m": 0.5},
     {"aux": GOOD}, {"aux": GOOD, "baseline_m": float("nan")}, {"aux": GOOD, "baseline_m": -1.0},
     {"intrinsics": Intrinsics(0.0, 1.0, 0.0, 0.0)},
     {"intrinsics": Intrinsics(1.0, float("nan"), 0.0, 0.0)}],
)
def test_frame_checks_say_what_preprocess_says(kwargs: dict) -> None:
    args = {"image": GOOD, "intrinsics": _intrinsics((100, 120)), "aux": None,
            "baseline_m": None, **kwargs}
    with pytest.raises(ValueError) as numpy_path:
        preprocess(args["image"], (64, 64), args["intrinsics"], args["aux"], args["baseline_m"],
                   canonical_focal=300.0)
    with pytest.raises(ValueError) as device_path:
        check_frame(args["image"], (64, 64), args["intrinsics"], args["aux"],
                    args["baseline_m"], 300.0)
    assert str(device_path.value) == str(numpy_path.value)


def test_frame_geometry() -> None:
    frame = check_frame(GOOD, (64, 192), _intrinsics((100, 120)), GOOD, 0.5, 300.0)
    assert frame.input_hw == (100, 120) and frame.fb == pytest.approx(150.0)
    content_w = fit((100, 120), (64, 192)).content_hw[1]  # letterboxed: 77 of 192 columns
    assert frame.f_net == pytest.approx(0.9 * 120 * content_w / 120)
    assert frame.f_net == pytest.approx(preprocess(GOOD, (64, 192), _intrinsics((100, 120))).f_net)
    with pytest.raises(ValueError, match="output_resolution"):
        check_frame(GOOD, (64, 192), _intrinsics((100, 120)), output_resolution="full")


def test_per_frame_maths_touches_no_host_memory() -> None:
    """What the runner captures in its CUDA graph besides the network: no host tensor, copy or
    sync per frame (the taps move to the device once, at construction)."""
    from capture_guard import host_traffic_of

    for camera in ((375, 1242), (100, 300)):
        proc = DeviceProcessing(camera, (192, 640), "meta", 1e-3, 80.0)

        def frame(image: torch.Tensor, depth: torch.Tensor, scale: torch.Tensor,
                  proc: DeviceProcessing = proc) -> None:
            proc.image(image)
            out = proc.depth(depth, scale[0], "input")
            proc.confidence(depth, out)
            proc.depth(depth, scale[0], "network")

        events = host_traffic_of(frame, torch.empty((*camera, 3), dtype=torch.uint8,
                                                    device="meta"),
                                 torch.empty(1, 1, 192, 640, device="meta"),
                                 torch.empty(2, device="meta"))
        assert events == [], events
