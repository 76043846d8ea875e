"""IID-RDepth network (torch modules only, no ROS).

``ModelConfig``, ``get_preset`` and ``PRESETS`` import without torch; ``build_model``,
``IIDRDepth``, ``save_checkpoint`` and ``load_checkpoint`` load torch on first use.
"""

from __future__ import annotations

from typing import Any

from .config import (
    AVLFEConfig,
    DecoderConfig,
    DiffusionConfig,
    EncoderConfig,
    InvertibleConfig,
    ModelConfig,
)
from .presets import DEFAULT_PRESET, PRESETS, get_preset, list_presets

_LAZY = {
    "build_model": "factory",
    "IIDRDepth": "iid_rdepth",
    "save_checkpoint": "checkpoint",
    "load_checkpoint": "checkpoint",
}

__all__ = [
    "AVLFEConfig", "DEFAULT_PRESET", "DecoderConfig", "DiffusionConfig", "EncoderConfig",
    "IIDRDepth", "InvertibleConfig", "ModelConfig", "PRESETS", "build_model", "get_preset",
    "list_presets", "load_checkpoint", "save_checkpoint",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
