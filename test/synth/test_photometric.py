"""Per-view camera response: draws within range, each step does what it says, deterministic."""

from __future__ import annotations

import numpy as np
import pytest

from iid_rdepth_ros.synth.photometric import (
    VIEW_UNIFORMS,
    PhotometricOptions,
    ViewPhotometry,
    apply,
)


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    rng = np.random.default_rng(0)
    base = rng.uniform(40, 200, (60, 80, 3))
    return np.clip(base, 0, 255).astype(np.uint8)


def test_identity_response_leaves_the_image_alone(image):
    assert np.array_equal(apply(image, ViewPhotometry()), image)


def test_gain_white_balance_and_gamma(image):
    out = apply(image, ViewPhotometry(gain=1.2, white_balance=(0.9, 1.0, 1.1)))
    expected = np.clip(image * np.array([1.08, 1.2, 1.32]), 0, 255)
    assert np.abs(out - expected).max() <= 1.0
    g = apply(image, ViewPhotometry(gamma=1.5)).astype(float)
    assert np.abs(g - 255 * (image / 255.0) ** 1.5).max() <= 1.0


def test_noise_blur_and_jpeg(image):
    noisy = apply(image, ViewPhotometry(noise_sigma=3.0, noise_seed=7))
    diff = noisy.astype(float) - image
    assert 2.5 < diff.std() < 3.5 and abs(diff.mean()) < 0.2
    assert np.array_equal(noisy, apply(image, ViewPhotometry(noise_sigma=3.0, noise_seed=7)))
    assert not np.array_equal(noisy, apply(image, ViewPhotometry(noise_sigma=3.0,
                                                                 noise_seed=8)))
    blurred = apply(image, ViewPhotometry(blur_sigma=1.0)).astype(float)
    assert np.abs(np.diff(blurred, axis=1)).mean() < 0.6 * np.abs(np.diff(image.astype(float),
                                                                          axis=1)).mean()
    import cv2
    from skimage import data

    photo = cv2.resize(data.astronaut(), (128, 128), interpolation=cv2.INTER_AREA)
    jpeg = apply(photo, ViewPhotometry(jpeg_quality=50))
    assert jpeg.shape == photo.shape and not np.array_equal(jpeg, photo)
    assert 0.5 < np.abs(jpeg.astype(float) - photo).mean() < 8


def test_draws_stay_in_range_and_round_trip_json():
    opts = PhotometricOptions()
    rng = np.random.default_rng(1)
    views = [opts.draw(rng.random(VIEW_UNIFORMS), i) for i in range(400)]
    gains = [v.gain for v in views]
    assert min(gains) >= opts.gain[0] and max(gains) <= opts.gain[1]
    assert all(opts.gamma[0] <= v.gamma <= opts.gamma[1] for v in views)
    assert all(abs(v.white_balance[0] - 1) <= opts.white_balance for v in views)
    blurred = np.mean([v.blur_sigma > 0 for v in views])
    jpeg = np.mean([v.jpeg_quality > 0 for v in views])
    assert 0.2 < blurred < 0.4 and 0.3 < jpeg < 0.5  # the stated probabilities
    assert all(v.jpeg_quality == 0 or 60 <= v.jpeg_quality <= 95 for v in views)
    assert all(ViewPhotometry.from_json(v.to_json()) == v for v in views[:20])


@pytest.mark.parametrize("kw", [{"gain": (0.0, 1.0)}, {"jpeg_quality": (0, 101)},
                                {"blur_probability": 1.5}, {"noise_sigma": (2.0, 1.0)}])
def test_options_reject_bad_ranges(kw):
    with pytest.raises(ValueError):
        PhotometricOptions(**kw)
