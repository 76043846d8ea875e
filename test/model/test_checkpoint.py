"""Checkpoints: safetensors + YAML card round trip and clear errors."""

from __future__ import annotations

import pytest
import torch
import yaml

from iid_rdepth_ros.artifacts import checkpoint_ref as ckpt
from iid_rdepth_ros.model import build_model, get_preset, load_checkpoint, save_checkpoint

PRESET = "lite0-96x320"


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model(get_preset(PRESET), variant="full").eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if not name.startswith("encoder."):
                p.add_(0.05 * torch.randn(p.shape, generator=g))
    stem = tmp_path_factory.mktemp("ck") / "run" / "model"
    weights, card = save_checkpoint(stem, model, {"data": "synth-street", "metrics": {"rmse": 1.5},
                                                  "command": "iid-rdepth train ..."})
    return model, stem, weights, card


def test_round_trip_identical_outputs(saved) -> None:
    model, stem, weights, card = saved
    assert weights.name == "model.safetensors" and card.name == "model.yaml"
    image, aux = torch.rand(1, 3, 96, 320), torch.rand(1, 3, 96, 320)
    for path in (stem, weights, card, str(stem)):
        loaded, meta = load_checkpoint(path)
        assert not loaded.training and loaded.variant == "full"
        with torch.no_grad():
            assert torch.equal(loaded(image), model(image))
            assert torch.equal(loaded(image, aux, 120.0), model(image, aux, 120.0))
    assert meta["data"] == "synth-street" and meta["metrics"]["rmse"] == 1.5
    assert meta["encoder"] == "efficientnet-lite0" and meta["config"]["name"] == PRESET


def test_weights_file_excludes_encoder_and_pickle(saved) -> None:
    from safetensors import safe_open

    _, _, weights, _ = saved
    with safe_open(str(weights), framework="pt") as handle:
        keys = list(handle.keys())
        meta = handle.metadata()
    assert keys and not any(k.startswith("encoder.") for k in keys)
    assert meta["encoder"] == "efficientnet-lite0" and meta["variant"] == "full"
    assert weights.read_bytes()[8:9] == b"{"  # safetensors: u64 header size, then JSON


def test_named_checkpoints_missing_say_how_to_produce(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(ckpt, "CHECKPOINT_DIR", tmp_path)
    for name in ("default", "baseline"):
        with pytest.raises(FileNotFoundError) as err:
            load_checkpoint(name)
        assert str(tmp_path / name) in str(err.value) and "make checkpoints" in str(err.value)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_checkpoint(tmp_path / "nowhere.safetensors")


def _copy(saved, tmp_path, name: str = "copy"):
    _, _, weights, card = saved
    w, c = tmp_path / f"{name}.safetensors", tmp_path / f"{name}.yaml"
    w.write_bytes(weights.read_bytes())
    c.write_text(card.read_text())
    return w, c


def test_corrupt_weights_clear_error(saved, tmp_path) -> None:
    w, c = _copy(saved, tmp_path)
    w.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(ValueError) as err:
        load_checkpoint(c)
    assert str(w) in str(err.value) and "SHA-256" in str(err.value)
    doc = yaml.safe_load(c.read_text())
    del doc["weights_sha256"]  # without the hash the reader itself must reject the bytes
    c.write_text(yaml.safe_dump(doc))
    with pytest.raises(ValueError, match="not a valid safetensors"):
        load_checkpoint(c)


def test_missing_key_and_shape_mismatch(saved, tmp_path) -> None:
    from safetensors.torch import load_file, save_file

    w, c = _copy(saved, tmp_path)
    doc = yaml.safe_load(c.read_text())
    del doc["weights_sha256"]
    c.write_text(yaml.safe_dump(doc))
    state = load_file(str(w))
    state.pop("bcp.mlp.2.bias")
    save_file(state, str(w))
    with pytest.raises(ValueError, match=r"missing keys \['bcp.mlp.2.bias'\]"):
        load_checkpoint(c)
    state["bcp.mlp.2.bias"] = torch.zeros(3)
    save_file(state, str(w))
    with pytest.raises(ValueError, match="shape mismatch: bcp.mlp.2.bias"):
        load_checkpoint(c)


def test_bad_cards(saved, tmp_path) -> None:
    w, c = _copy(saved, tmp_path)
    c.write_text("format: something-else\n")
    with pytest.raises(ValueError, match="format"):
        load_checkpoint(c)
    c.write_text("{unclosed: [")
    with pytest.raises(ValueError, match="YAML"):
        load_checkpoint(c)
    doc = yaml.safe_load(saved[3].read_text())
    doc["config"]["decoder"]["nbins"] = 3
    c.write_text(yaml.safe_dump(doc))
    with pytest.raises(ValueError, match="nbins"):
        load_checkpoint(c)


def test_save_refuses_reserved_keys_and_random_encoder(saved, tmp_path) -> None:
    model = saved[0]
    with pytest.raises(ValueError, match="reserved"):
        save_checkpoint(tmp_path / "x", model, {"config": {}})
    random_encoder = build_model(get_preset(PRESET), variant="baseline", pretrained_encoder=False)
    with pytest.raises(ValueError, match="pretrained_encoder=False"):
        save_checkpoint(tmp_path / "y", random_encoder, {})


def test_card_from_before_the_stereo_prior_loads_as_it_was_trained(saved, tmp_path) -> None:
    model = build_model(get_preset(PRESET), variant="full")
    assert model.avlfe.enhancers["0"].prior is not None
    cfg = get_preset(PRESET)
    cfg.avlfe.prior, cfg.avlfe.candidate_spacing = False, "inverse"
    legacy = build_model(cfg, variant="full").eval()
    _, card = save_checkpoint(tmp_path / "old", legacy, {})
    doc = yaml.safe_load(card.read_text())
    for key in ("prior", "candidate_spacing"):  # what an older writer did not know
        del doc["config"]["avlfe"][key]
    card.write_text(yaml.safe_dump(doc))
    loaded, meta = load_checkpoint(card)
    assert meta["config"]["avlfe"]["prior"] is False
    assert loaded.cfg.avlfe.candidate_spacing == "inverse"
    image = torch.rand(1, 3, 96, 320)
    with torch.no_grad():
        assert torch.equal(loaded(image, image, 100.0), legacy(image, image, 100.0))
