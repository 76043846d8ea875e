"""Shared pre/post-processing: sizes, focal rescale, NaN for invalid, input validation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from iid_rdepth_ros.artifacts.errors import MissingDependencyError
from iid_rdepth_ros.artifacts.lazy_import import lazy_import
from iid_rdepth_ros.geometry.camera import scale_intrinsics
from iid_rdepth_ros.runtime import Intrinsics, RunnerConfig
from iid_rdepth_ros.runtime.processing import (
    postprocess,
    preprocess,
    resize_image,
)

NET = (64, 192)
INTR = Intrinsics(fx=500.0, fy=500.0, cx=300.0, cy=100.0)


def _image(h: int = 200, w: int = 600, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_preprocess_shapes_range_and_focal() -> None:
    img, aux = _image(), _image(seed=1)
    prep = preprocess(img, NET, INTR, aux=aux, baseline_m=0.5, canonical_focal=371.5)
    assert prep.image.shape == (1, 3, *NET) and prep.image.dtype == np.float32
    assert prep.aux is not None and prep.aux.shape == prep.image.shape
    assert prep.image.min() >= 0.0 and prep.image.max() <= 1.0
    assert prep.f_net == pytest.approx(500.0 * 192 / 600)
    assert prep.fb is not None and prep.fb.shape == (1,) and prep.fb.dtype == np.float32
    assert prep.fb[0] == pytest.approx(371.5 * 0.5)  # canonical focal x baseline
    # channel order is kept (RGB in, RGB out) and values are x / 255 of the resized image
    flat = np.full((200, 600, 3), (10, 128, 250), np.uint8)
    p = preprocess(flat, NET, INTR)
    assert np.allclose(p.image[0, :, 5, 5], np.array([10, 128, 250]) / 255.0, atol=1e-6)
    assert p.aux is None and p.fb is None and not p.stereo


def test_resize_area_when_shrinking_linear_when_growing() -> None:
    stripes = np.zeros((4, 8, 3), np.uint8)
    stripes[:, ::2] = 255
    small = resize_image(stripes, (2, 4))
    assert np.all(np.abs(small.astype(int) - 128) <= 1)  # area average of 0/255 pairs
    big = resize_image(np.array([[[0] * 3, [200] * 3]], np.uint8), (1, 4))
    assert big[0, 0, 0] == 0 and big[0, -1, 0] == 200 and 0 < big[0, 1, 0] < 200


def test_postprocess_rescales_upsamples_and_marks_invalid() -> None:
    prep = preprocess(_image(), NET, INTR)
    canonical = 100.0
    net = np.full(NET, 10.0, np.float32)
    net[0, 0] = np.nan
    net[1, 1] = -3.0
    net[2, 2] = 1e6
    out = postprocess(net, prep, canonical, 1e-3, 80.0, "network")
    assert out.shape == NET and out.dtype == np.float32
    assert out[5, 5] == pytest.approx(10.0 * prep.f_net / canonical)
    assert math.isnan(out[0, 0]) and math.isnan(out[1, 1]) and math.isnan(out[2, 2])
    full = postprocess(net[None, None], prep, canonical, 1e-3, 80.0, "input")
    assert full.shape == (200, 600)
    assert np.nanmedian(full) == pytest.approx(10.0 * prep.f_net / canonical, rel=1e-5)
    capped = postprocess(np.full(NET, 10.0, np.float32), prep, canonical, 1e-3, 15.0, "input")
    assert np.isnan(capped).all()  # 10 * 1.6 = 16 m > max_depth 15 m


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"image": np.zeros((10, 10, 3), np.float32)}, "uint8"),
        ({"image": np.zeros((10, 10), np.uint8)}, "(H, W, 3)"),
        ({"image": [[0]]}, "numpy array"),
        ({"aux": np.zeros((100, 100, 3), np.uint8), "baseline_m": 0.5}, "differs"),
        ({"aux": _image()}, "baseline_m is required"),
        ({"aux": _image(), "baseline_m": float("nan")}, "baseline_m"),
        ({"aux": _image(), "baseline_m": -1.0}, "baseline_m"),
        ({"intrinsics": Intrinsics(0.0, 1.0, 0.0, 0.0)}, "fx"),
        ({"intrinsics": Intrinsics(float("inf"), 1.0, 0.0, 0.0)}, "fx"),
        ({"intrinsics": Intrinsics(1.0, float("nan"), 0.0, 0.0)}, "fy"),
    ],
)
def test_bad_input_is_a_clear_value_error(kwargs: dict, message: str) -> None:
    args = {"image": _image(), "intrinsics": INTR, "aux": None, "baseline_m": None, **kwargs}
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        preprocess(args["image"], NET, args["intrinsics"], args["aux"], args["baseline_m"],
                   canonical_focal=300.0)


def test_bad_output_resolution_and_config() -> None:
    prep = preprocess(_image(), NET, INTR)
    with pytest.raises(ValueError, match="output_resolution"):
        postprocess(np.ones(NET, np.float32), prep, 100.0, 1e-3, 80.0, "full")
    with pytest.raises(ValueError, match="multiple of 32"):
        RunnerConfig(input_height=100).validate()
    with pytest.raises(ValueError, match="backend"):
        RunnerConfig(backend="tflite").validate()  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_depth"):
        RunnerConfig(min_depth=5.0, max_depth=1.0).validate()


def test_scale_intrinsics_matches_resize_convention() -> None:
    scaled = scale_intrinsics(INTR, (200, 600), (64, 192))
    assert scaled.fx == pytest.approx(500 * 192 / 600)
    assert scaled.fy == pytest.approx(500 * 64 / 200)
    assert scaled.cx == pytest.approx((300 + 0.5) * 0.32 - 0.5)
    back = scale_intrinsics(scaled, (64, 192), (200, 600))
    assert back.cx == pytest.approx(INTR.cx) and back.fy == pytest.approx(INTR.fy)


def test_missing_dependency_names_the_package() -> None:
    with pytest.raises(MissingDependencyError, match="pip install no_such_module_xyz"):
        lazy_import("no_such_module_xyz", "testing")
    with pytest.raises(ImportError):  # also an ImportError for callers that expect one
        lazy_import("no_such_module_xyz")


def test_runner_confidence_follows_the_depth_size_and_validity() -> None:
    """infer_full: a backend's confidence output is resized with the depth, clipped to [0, 1]
    and NaN where the depth is invalid; infer() stays depth only."""
    from iid_rdepth_ros.runtime import Intrinsics, Runner, RunnerConfig

    class Fake(Runner):
        name = "fake"

        def _load(self) -> None:
            self.canonical_focal, self.steps = 100.0, 1

        def _forward(self, prepared):  # noqa: ANN001, ANN202
            h, w = prepared.network_hw
            depth = np.full((1, 1, h, w), 5.0, np.float32)
            depth[..., 0, :] = -1.0  # invalid row
            confidence = np.linspace(-0.5, 1.5, h * w, dtype=np.float32).reshape(1, 1, h, w)
            return {"depth": depth, "confidence": confidence} if prepared.stereo else depth

        def _close(self) -> None:
            pass

    image = np.zeros((48, 100, 3), np.uint8)
    intr = Intrinsics(100.0, 100.0, 49.5, 23.5)
    with Fake(RunnerConfig(backend="torch", input_height=32, input_width=64)) as runner:
        mono = runner.infer_full(image, intrinsics=intr)
        assert mono.confidence is None and mono.depth.shape == (48, 100)
        stereo = runner.infer_full(image, image, intr, baseline_m=0.1)
        conf = stereo.confidence
        assert conf is not None and conf.shape == stereo.depth.shape == (48, 100)
        valid = np.isfinite(stereo.depth)
        assert np.isnan(conf[~valid]).all() and (~valid).any()
        assert conf[valid].min() >= 0.0 and conf[valid].max() <= 1.0
        assert np.array_equal(runner.infer(image, image, intr, 0.1), stereo.depth,
                              equal_nan=True)


def test_letterbox_keeps_the_aspect_and_crops_the_padding() -> None:
    # a 4:3 camera in a 64x192 network input: scaled by 0.2, 96 padding columns
    img = _image(320, 480)
    intr = Intrinsics(fx=400.0, fy=400.0, cx=239.5, cy=159.5)
    prep = preprocess(img, NET, intr)
    assert prep.fit is not None and prep.content_hw == (64, 96)
    assert prep.f_net == pytest.approx(400.0 * 0.2)
    left = prep.fit.offset[1]
    # the content is the resized image, the padding mirrors it (no black bars)
    content = prep.image[0, :, :, left:left + 96]
    expected = resize_image(img, (64, 96)).transpose(2, 0, 1) / 255.0
    np.testing.assert_allclose(content, expected, atol=1e-6)
    np.testing.assert_allclose(prep.image[0, :, :, left - 1], content[:, :, 1], atol=1e-6)
    net = np.full(NET, 5.0, np.float32)
    net[:, :left] = np.nan  # anything in the padding is cropped away
    out = postprocess(net, prep, 100.0, 1e-3, 80.0, "network")
    assert out.shape == (64, 96) and np.all(out == np.float32(5.0 * 80.0 / 100.0))
    assert postprocess(net, prep, 100.0, 1e-3, 80.0, "input").shape == (320, 480)


def test_aux_principal_point_offset_is_moved_out() -> None:
    """A right camera whose principal point lies 25 px right of the left one's sees every
    point 25 px further right; moved back, its tensor equals the pair without the offset (25
    camera px = 8 network px: exact; a fractional shift interpolates)."""
    net = (64, 192)
    img = _image(200, 600, seed=3)
    right = np.roll(img, -12, axis=1)  # the rectified right view, same principal point
    shifted = np.zeros_like(right)
    shifted[:, 25:] = right[:, :-25]  # cx_r = cx_l + 25
    intr = Intrinsics(fx=500.0, fy=500.0, cx=300.0, cy=100.0)
    aux_intr = Intrinsics(fx=500.0, fy=500.0, cx=325.0, cy=100.0)
    plain = preprocess(img, net, intr, aux=right, baseline_m=0.5, canonical_focal=100.0)
    moved = preprocess(img, net, intr, aux=shifted, baseline_m=0.5, canonical_focal=100.0,
                       aux_intrinsics=aux_intr)
    assert moved.aux_shift == pytest.approx((-8.0, 0.0))
    inner = (slice(None), slice(None), slice(None), slice(2, 180))  # away from both edges
    np.testing.assert_allclose(moved.aux[inner], plain.aux[inner], atol=1e-6)
    assert not np.allclose(moved.aux[inner], preprocess(
        img, net, intr, aux=shifted, baseline_m=0.5, canonical_focal=100.0).aux[inner])
    with pytest.raises(ValueError) as err:
        preprocess(img, net, intr, aux=right, baseline_m=0.5, canonical_focal=100.0,
                   aux_intrinsics=Intrinsics(fx=550.0, fy=550.0, cx=300.0, cy=100.0))
    assert str(err.value) == ("aux camera is not rectified with the main camera: fx 550 vs 500 "
                              "(a rectified pair shares fx and fy)")
