"""Stereo training / evaluation pairs with exact disparity (synth.stereo_pairs)."""

from __future__ import annotations

import numpy as np

from iid_rdepth_ros.synth import stereo_pairs as sp


def test_planar_pairs_are_photo_consistent_with_their_disparity():
    import cv2

    rng = np.random.default_rng(1)
    photo = sp.load_photo("camera")
    gen = sp.PlanarPhotoPairs({"camera": photo}, max_disparity=48, photo_mode_prob=1.0)

    def error(s: dict, disp: np.ndarray) -> float:
        h, w = disp.shape
        my = np.broadcast_to(np.arange(h, dtype=np.float32)[:, None], (h, w)).copy()
        mx = (np.arange(w)[None, :] - disp).astype(np.float32)
        warped = cv2.remap(s["right"].astype(np.float32), mx, my, cv2.INTER_LINEAR)
        return float(np.abs(warped - s["left"])[~s["occluded"]].mean())

    for _ in range(3):
        s = gen.sample(rng, (64, 128))
        d = s["disparity"]
        assert (~s["occluded"]).mean() > 0.5
        assert error(s, d) < 6.0  # grey levels (resampling of a resampled texture)
        assert error(s, d) < 0.5 * error(s, d + 2.0)
        assert s["depth"].shape == d.shape and np.all(s["depth"][d > 0] > 0)


def test_evaluation_photographs_are_not_training_photographs():
    assert not set(sp.EVAL_PHOTOS + sp.UNSEEN_PHOTOS) & set(sp.TRAIN_PHOTOS)
    assert "stereo_motorcycle" not in sp.TRAIN_PHOTOS  # real stereo pairs are never used
