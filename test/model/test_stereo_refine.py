"""AV-LFE stereo refinement (``model.stereo_refine``): known shifts, its limits, config."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml

from iid_rdepth_ros.model import build_model, get_preset
from iid_rdepth_ros.model.checkpoint import load_checkpoint, save_checkpoint
from iid_rdepth_ros.model.config import AVLFEConfig
from iid_rdepth_ros.model.stereo_refine import StereoRefiner

H, W = 64, 192
FB = 100.0  # focal x baseline, pixels x metres
TRUE_DISPARITY = 5.3  # pixels: depth 18.87 m


def textured(seed: int = 0, flat_from: int | None = None) -> torch.Tensor:
    """(1, 3, H, W + 16) smooth random texture; columns from ``flat_from`` on are grey."""
    g = torch.Generator().manual_seed(seed)
    img = F.avg_pool2d(torch.rand(1, 3, H + 2, W + 18, generator=g), 3, 1)
    if flat_from is not None:
        img[..., flat_from:] = 0.5
    return img


def stereo_pair(disparity: float | torch.Tensor, flat_from: int | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Left view and a right view in which every point sits ``disparity`` px further left
    (one value, or one per column of the left view)."""
    scene = textured(flat_from=flat_from)
    xs = torch.arange(W, dtype=torch.float32)  # the right view looks up to 16 px further right
    ys = torch.arange(H, dtype=torch.float32)

    def view(shift: float | torch.Tensor) -> torch.Tensor:
        gx = (2 * (xs + shift) + 1) / (W + 16) - 1
        gy = (2 * ys + 1) / H - 1
        grid = torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], -1)[None]
        return F.grid_sample(scene, grid, mode="bilinear", align_corners=False)

    return view(0.0), view(disparity)


def refine(depth_guess: torch.Tensor, flat_from: int | None = None,
           disparity: float | torch.Tensor = TRUE_DISPARITY, **cfg: object) -> torch.Tensor:
    left, right = stereo_pair(disparity, flat_from)
    refiner = StereoRefiner(AVLFEConfig(**cfg), max_depth=80.0)
    with torch.no_grad():
        return refiner(left, right, torch.tensor([FB]), depth_guess)


def interior(x: torch.Tensor) -> torch.Tensor:
    return x[..., 8:-8, 16:-16]  # away from the borders (border padding, partial windows)


def test_recovers_a_known_subpixel_disparity_from_a_20_percent_wrong_guess() -> None:
    truth = FB / TRUE_DISPARITY
    out = refine(torch.full((1, 1, H, W), 1.2 * truth))
    rel = (interior(out) - truth).abs() / truth
    # the guess was 20 % off; 3 % is 0.16 px: the parabola through ZNCC scores of bilinearly
    # resampled windows is pulled towards whole pixels (~0.1 px here, less once averaged)
    assert rel.median() < 0.03
    assert (rel < 0.05).float().mean() > 0.9


def test_a_guess_outside_the_band_is_left_alone() -> None:
    """True disparity 5.3 px; a guess of 1.5 px with band +-max(0.4 * d, 2 px) cannot reach it:
    the best score lands on the band's end and nothing is replaced or spread."""
    guess = torch.full((1, 1, H, W), FB / 1.5)
    out = refine(guess)
    assert torch.equal(out, guess)


def test_flat_images_change_nothing() -> None:
    guess = torch.full((1, 1, H, W), 20.0)
    refiner = StereoRefiner(AVLFEConfig(), max_depth=80.0)
    grey = torch.full((1, 3, H, W), 0.4)
    with torch.no_grad():
        assert torch.equal(refiner(grey, grey, torch.tensor([FB]), guess), guess)


def test_matched_corrections_spread_into_a_textureless_neighbourhood() -> None:
    truth = FB / TRUE_DISPARITY
    guess = torch.full((1, 1, H, W), 1.2 * truth)
    # texture only in the left part of the scene: no match possible right of it
    out = refine(guess, flat_from=W // 2, refine_spread=(63,))
    cols = slice(W // 2 + 16, W // 2 + 28)  # textureless beyond any ZNCC window
    flat = out[..., 8:-8, cols]  # within the spread box of matched pixels
    assert ((flat - truth).abs() / truth).median() < 0.05  # was 0.2
    far = out[..., 8:-8, -8:]  # beyond the 63-px spread box of any matched pixel
    assert torch.equal(far, guess[..., 8:-8, -8:])
    # the default pyramid's coarsest box (191 px) reaches that far too
    pyramid = refine(guess, flat_from=W // 2)
    assert ((pyramid[..., 8:-8, -8:] - truth).abs() / truth).median() < 0.05
    without_spread = refine(guess, flat_from=W // 2, refine_spread=(1,))
    assert torch.equal(without_spread[..., 8:-8, cols], guess[..., 8:-8, cols])


def test_finer_boxes_keep_two_surfaces_apart_where_they_are_matched() -> None:
    """Left half at 5.3 px, right half at 4.6 px (18.9 m and 21.7 m: one log-depth layer), one
    flat guess: a single coarse box averages both corrections; the pyramid's fine box, dense
    with matches on each side, keeps each surface's own."""
    disparity = torch.where(torch.arange(W) < W // 2, TRUE_DISPARITY, 4.6)
    guess = torch.full((1, 1, H, W), 20.0)
    sides = [(slice(16, W // 2 - 16), TRUE_DISPARITY), (slice(W // 2 + 16, W - 16), 4.6)]

    def errors(out: torch.Tensor) -> list[float]:
        return [float(((out[..., 8:-8, cols] - FB / d).abs() * d / FB).median())
                for cols, d in sides]

    assert max(errors(refine(guess, disparity=disparity))) < 0.03
    assert min(errors(refine(guess, disparity=disparity, refine_spread=(191,)))) > 0.04


@pytest.mark.parametrize(("key", "value", "message"), [
    ("refine_candidates", 2, "refine_candidates"),
    ("refine_window", 10, "odd"),
    ("refine_spread", (), "refine_spread"),
    ("refine_spread", (23, 0), "refine_spread"),
    ("refine_spread", (22,), "odd"),
    ("refine_share", 0.0, "refine_share"),
    ("refine_layers", 1, "refine_layers"),
    ("refine_band", 0.0, "refine_band"),
    ("refine_confidence", 1.0, "refine_confidence"),
])
def test_bad_refine_settings_are_refused(key: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AVLFEConfig(**{key: value}).validate()


def test_full_model_refines_only_with_an_aux_view_and_old_cards_load_without(tmp_path) -> None:
    torch.manual_seed(0)
    model = build_model(get_preset("lite0-96x320"), variant="full").eval()
    assert model.refiner is not None and not list(model.refiner.parameters())
    left, right = stereo_pair(TRUE_DISPARITY)
    left, right = left[..., :, :192], right[..., :, :192]
    with torch.no_grad():
        mono = model(left)
        feats, aux_feats = model.encode(left), model.encode(right, levels=2)
        decoded = model.decode(feats, aux_feats, FB, out_size=(H, W))
        stereo = model(left, right, FB)
    assert not torch.equal(stereo, decoded)  # the refinement acted on the decoded depth
    assert torch.equal(model(left), mono)
    # a card written before the refinement existed loads without it (what it was tested with)
    stem = tmp_path / "old"
    save_checkpoint(stem, model)
    card = stem.with_suffix(".yaml")
    data = yaml.safe_load(card.read_text())
    avlfe = data["config"]["avlfe"]
    for key in [k for k in avlfe if k.startswith("refine")]:
        del avlfe[key]
    card.write_text(yaml.safe_dump(data, sort_keys=False))
    old, _ = load_checkpoint(stem)
    assert old.refiner is None and not old.cfg.avlfe.refine
    with torch.no_grad():
        np.testing.assert_array_equal(old.eval()(left, right, FB).numpy(), decoded.numpy())


def test_each_frame_of_a_batch_uses_its_own_fb() -> None:
    left, right = stereo_pair(TRUE_DISPARITY)
    guess = torch.full((1, 1, H, W), 1.2 * FB / TRUE_DISPARITY)
    refiner = StereoRefiner(AVLFEConfig(), max_depth=80.0)
    with torch.no_grad():
        both = refiner(torch.cat([left, left]), torch.cat([right, right]),
                       torch.tensor([FB, 2 * FB]), torch.cat([guess, 2 * guess]))
        alone = [refiner(left, right, torch.tensor([fb]), g)
                 for fb, g in ((FB, guess), (2 * FB, 2 * guess))]
    torch.testing.assert_close(both, torch.cat(alone))
    # the same pixels and disparities, twice the fb: twice the depth (to 0.2 %: the log-depth
    # layers that keep surfaces apart are absolute, so their weights shift a little)
    torch.testing.assert_close(both[1], 2 * both[0], rtol=2e-3, atol=0)


def test_a_card_with_one_spread_box_loads_as_a_one_box_pyramid() -> None:
    from iid_rdepth_ros.model.checkpoint import upgrade_config_dict
    from iid_rdepth_ros.model.config import ModelConfig

    config = get_preset("lite0-96x320").to_dict()
    config["avlfe"]["refine_spread"] = 63  # how cards before the pyramid wrote it
    assert ModelConfig.from_dict(upgrade_config_dict(config)).avlfe.refine_spread == (63,)
