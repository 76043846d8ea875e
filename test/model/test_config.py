"""Model config dataclasses and the preset registry (no torch needed)."""

from __future__ import annotations

import json

import pytest
import yaml

from iid_rdepth_ros.model import PRESETS, ModelConfig, get_preset, list_presets
from iid_rdepth_ros.model.presets import DEFAULT_PRESET, kitti_focal


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_round_trip_yaml_and_json(name: str) -> None:
    cfg = get_preset(name)
    via_yaml = ModelConfig.from_dict(yaml.safe_load(yaml.safe_dump(cfg.to_dict())))
    via_json = ModelConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert via_yaml == cfg
    assert via_json == cfg
    assert isinstance(via_yaml.decoder.channels, tuple)


def test_default_preset_values() -> None:
    cfg = get_preset()
    assert cfg.name == DEFAULT_PRESET == "lite0-192x640"
    assert cfg.input_size == (192, 640)
    assert cfg.canonical_focal == pytest.approx(721.5377 * 640 / 1242)
    assert (cfg.min_depth, cfg.max_depth) == (1e-3, 80.0)
    assert cfg.encoder.name == "efficientnet-lite0"
    big = get_preset("lite0-352x1216")
    assert big.canonical_focal == pytest.approx(kitti_focal(1216))
    assert {get_preset(n).encoder.name for n in ("lite1-192x640", "lite2-192x640")} == {
        "efficientnet-lite1", "efficientnet-lite2"}


def test_presets_are_fresh_copies() -> None:
    a = get_preset()
    a.decoder.n_bins = 7
    assert get_preset().decoder.n_bins != 7


def test_unknown_preset_lists_known() -> None:
    with pytest.raises(ValueError) as err:
        get_preset("lite9-1x1")
    for name in list_presets():
        assert name in str(err.value)


def test_unknown_keys_are_named() -> None:
    data = get_preset().to_dict()
    data["colour"] = 1
    data["diffusion"]["stepz"] = 3
    with pytest.raises(ValueError, match="colour"):
        ModelConfig.from_dict(data)
    del data["colour"]
    with pytest.raises(ValueError, match=r"diffusion.*stepz"):
        ModelConfig.from_dict(data)


def test_yaml_exponent_string_and_bad_types() -> None:
    data = yaml.safe_load("min_depth: 1e-3\nmax_depth: 80\ninput_height: 96\ninput_width: 320")
    assert isinstance(data["min_depth"], str)  # YAML 1.1 quirk that from_dict must absorb
    cfg = ModelConfig.from_dict(data)
    assert cfg.min_depth == pytest.approx(1e-3) and cfg.max_depth == 80.0
    with pytest.raises(ValueError, match="input_height"):
        ModelConfig.from_dict({"input_height": "tall"})
    with pytest.raises(ValueError, match="channels"):
        ModelConfig.from_dict({"decoder": {"channels": [1, 2, 3]}})


@pytest.mark.parametrize("change", [
    {"input_height": 100},
    {"min_depth": 10.0, "max_depth": 5.0},
    {"decoder": {"bin_space": "cubic"}},
    {"diffusion": {"steps": 0}},
    {"avlfe": {"levels": [2]}},
    {"invertible": {"scale_bound": 0.0}},
])
def test_invalid_values_raise(change: dict) -> None:
    with pytest.raises(ValueError):
        ModelConfig.from_dict(change)
