"""Checkpoint references: ``default`` / ``baseline`` (shipped) or a path, their files, card and
digest. Plain files only (no torch): the model layer builds networks from what this reads.

A checkpoint is ``NAME.safetensors`` (weights, no pickle) + ``NAME.yaml`` (model card).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from iid_rdepth_ros.artifacts.files import sha256_file

CARD_FORMAT = "iid-rdepth-checkpoint/1"
CHECKPOINT_DIR = Path(__file__).resolve().parent.parent / "checkpoints"
#: names resolved inside ``CHECKPOINT_DIR`` (shipped with the package)
NAMED_CHECKPOINTS = ("default", "baseline")
_HOW_TO_PRODUCE = ("produce it with `make checkpoints` (or `iid-rdepth train ...` and "
                   "save_checkpoint), or pass the path of an existing checkpoint")


def checkpoint_stem(path: str | Path) -> Path:
    """``x.safetensors`` / ``x.yaml`` / ``x`` -> ``x``."""
    path = Path(path)
    if path.suffix in (".safetensors", ".yaml", ".yml"):
        return path.with_suffix("")
    return path


def checkpoint_files(name_or_path: str | Path) -> tuple[Path, Path]:
    """(weights, card) paths for ``default`` / ``baseline`` or a path (stem, .yaml or
    .safetensors); a missing file raises ``FileNotFoundError`` naming it."""
    if str(name_or_path) in NAMED_CHECKPOINTS:
        stem = CHECKPOINT_DIR / str(name_or_path)
    else:
        stem = checkpoint_stem(name_or_path)
    weights, card = stem.with_suffix(".safetensors"), stem.with_suffix(".yaml")
    if not card.is_file() and stem.with_suffix(".yml").is_file():
        card = stem.with_suffix(".yml")
    for path in (card, weights):
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint file not found: {path}; {_HOW_TO_PRODUCE}")
    return weights, card


def read_card(card_path: Path) -> dict[str, Any]:
    """Parse and check a model card (safe YAML); problems raise ``ValueError`` naming it."""
    import yaml

    from iid_rdepth_ros.artifacts.config_loader import yaml_error_text

    try:
        card = yaml.safe_load(Path(card_path).read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ValueError(f"{card_path}: not a readable YAML model card "
                         f"({yaml_error_text(exc)})") from None
    if not isinstance(card, dict):
        raise ValueError(f"{card_path}: model card must be a mapping")
    if card.get("format") != CARD_FORMAT:
        raise ValueError(f"{card_path}: format is {card.get('format')!r}, expected "
                         f"{CARD_FORMAT!r}")
    for key in ("variant", "config"):
        if key not in card:
            raise ValueError(f"{card_path}: model card lacks {key!r}")
    return card


def checkpoint_digest(model_ref: str | Path) -> str:
    """SHA-256 over the weights and the card (the card holds the config)."""
    weights, card = checkpoint_files(model_ref)
    return hashlib.sha256(f"{sha256_file(weights)}:{sha256_file(card)}".encode()).hexdigest()
