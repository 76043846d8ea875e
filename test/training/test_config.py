"""Training configuration: defaults, YAML files, dotted overrides and their errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from iid_rdepth_ros.training.config import (
    DEFAULT_CONFIG,
    TrainConfig,
    from_dict,
    load_config,
    parse_override,
    save_config,
)


def _leaf_keys(obj: object, prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for f in dataclasses.fields(obj):  # type: ignore[arg-type]
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            keys |= _leaf_keys(value, f"{prefix}{f.name}.")
        else:
            keys.add(prefix + f.name)
    return keys


def _yaml_leaf_keys(tree: dict, prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for k, v in tree.items():
        if isinstance(v, dict) and k != "model":
            keys |= _yaml_leaf_keys(v, f"{prefix}{k}.")
        else:
            keys.add(prefix + k)
    return keys


def test_default_yaml_documents_every_key() -> None:
    tree = yaml.safe_load(DEFAULT_CONFIG.read_text())
    assert _yaml_leaf_keys(tree) == _leaf_keys(TrainConfig())
    cfg = load_config()
    assert cfg.stage == "both" and cfg.batch_size >= 1 and cfg.stage2.aux_prob == 0.5


def test_overrides_are_typed_and_nested() -> None:
    cfg = load_config(overrides=["stage2.steps=500", "stage=1", "data.val=null",
                                 "stage1.lr=1e-3", "model.diffusion_steps=3",
                                 "stage1.schedule=constant"])
    assert cfg.stage2.steps == 500 and isinstance(cfg.stage2.steps, int)
    assert cfg.stage == "1"  # an int on the command line becomes the string the field wants
    assert cfg.data.val is None
    assert cfg.stage1.lr == pytest.approx(1e-3)
    assert cfg.model == {"diffusion_steps": 3}
    assert cfg.stage1.schedule == "constant"


def test_yaml_file_then_overrides(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("batch_size: 4\nstage1: {steps: 20}\n")
    cfg = load_config(path, ["stage1.steps=30"])
    assert cfg.batch_size == 4 and cfg.stage1.steps == 30
    assert cfg.stage2.steps == load_config().stage2.steps  # untouched keys keep defaults
    out = tmp_path / "resolved.yaml"
    save_config(cfg, out)
    assert from_dict(yaml.safe_load(out.read_text())) == cfg


def test_unknown_keys_are_all_named() -> None:
    with pytest.raises(ValueError) as info:
        load_config(overrides=["stage2.stepz=1", "data.bogus=2"])
    assert "stage2.stepz" in str(info.value) and "data.bogus" in str(info.value)


@pytest.mark.parametrize("item, words", [
    ("stage2.steps=abc", "stage2.steps"),
    ("batch_size=0", "batch_size"),
    ("stage=3", "stage"),
    ("stage2.aux_prob=1.5", "aux_prob"),
    ("stage1.hint_weight=-1", "stage1.hint_weight"),
    ("stage2.stereo_loss_weight=-0.5", "stereo_loss_weight"),
    ("stage1.schedule=linear", "schedule"),
    ("grad_clip=true", "grad_clip"),
    ("cache.mode=gpu", "cache.mode"),
    ("stage1.snapshot_at=999999", "snapshot_at"),
    ("stage2.init_from=snapshot", "snapshot_at"),
    ("noequals", "key.sub=value"),
    ("data=5", "data"),
])
def test_bad_values_raise_value_error(item: str, words: str) -> None:
    with pytest.raises(ValueError, match=words.replace(".", r"\.")):
        load_config(overrides=[item])


def test_stage2_alone_needs_init_checkpoint() -> None:
    with pytest.raises(ValueError, match="init-from"):
        load_config(overrides=["stage=2"])
    cfg = load_config(overrides=["stage=2", "stage2.init_from=some/ckpt"])
    assert cfg.stage2.init_from == "some/ckpt"


def test_parse_override_keeps_strings_with_equals() -> None:
    assert parse_override("out_dir=a=b") == ("out_dir", "a=b")
    with pytest.raises(ValueError):
        parse_override("a..b=1")


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "list.yaml"
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="mapping"):
        load_config(bad)
