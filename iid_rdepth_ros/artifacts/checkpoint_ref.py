"""Checkpoint references (``default``, ``baseline`` or a path) for export and runtimes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from iid_rdepth_ros.artifacts.engine_sidecar import sha256_file


def checkpoint_files(model_ref: str | Path) -> tuple[Path, Path]:
    """(weights, card) of a checkpoint; FileNotFoundError naming the missing file."""
    from iid_rdepth_ros.model.checkpoint import resolve_checkpoint

    return resolve_checkpoint(model_ref)


def checkpoint_config(model_ref: str | Path) -> Any:
    """The ``ModelConfig`` in a checkpoint's card (no torch needed)."""
    from iid_rdepth_ros.model.checkpoint import read_card
    from iid_rdepth_ros.model.config import ModelConfig

    _, card_path = checkpoint_files(model_ref)
    card = read_card(card_path)
    try:
        return ModelConfig.from_dict(card["config"])
    except ValueError as exc:
        raise ValueError(f"{card_path}: invalid config: {exc}") from None


def checkpoint_digest(model_ref: str | Path) -> str:
    """SHA-256 over the weights and the card (the card holds the config)."""
    import hashlib

    weights, card = checkpoint_files(model_ref)
    return hashlib.sha256(f"{sha256_file(weights)}:{sha256_file(card)}".encode()).hexdigest()


def load_model(model_ref: str | Path) -> tuple[Any, Any, dict[str, Any]]:
    """(model in eval mode, its ModelConfig, provenance info) for a checkpoint reference."""
    from iid_rdepth_ros.model.checkpoint import load_checkpoint

    weights, _ = checkpoint_files(model_ref)
    model, card = load_checkpoint(model_ref)
    info = {"checkpoint": str(weights), "checkpoint_sha256": card.get("weights_sha256"),
            "model_variant": card.get("variant")}
    return model, model.cfg, info
