"""Named model presets (one registry for all of them)."""

from __future__ import annotations

from collections.abc import Callable

from .config import DecoderConfig, EncoderConfig, ModelConfig

#: KITTI raw (2011_09_26) left colour camera: fx in pixels at the original 1242-pixel width.
KITTI_FX = 721.5377
KITTI_WIDTH = 1242

DEFAULT_PRESET = "lite0-192x640"


def kitti_focal(width: int) -> float:
    """KITTI focal length scaled to an image resized to ``width`` pixels."""
    return KITTI_FX * width / KITTI_WIDTH


def _preset(encoder: str, height: int, width: int, **decoder: object) -> Callable[[], ModelConfig]:
    def make() -> ModelConfig:
        return ModelConfig(
            name=f"{encoder.removeprefix('efficientnet-')}-{height}x{width}",
            input_height=height,
            input_width=width,
            canonical_focal=kitti_focal(width),
            min_depth=1e-3,
            max_depth=80.0,
            encoder=EncoderConfig(name=encoder),
            decoder=DecoderConfig(**decoder),  # type: ignore[arg-type]
        )

    return make


#: name -> factory returning a fresh ``ModelConfig``.
PRESETS: dict[str, Callable[[], ModelConfig]] = {
    "lite0-192x640": _preset("efficientnet-lite0", 192, 640),
    "lite1-192x640": _preset("efficientnet-lite1", 192, 640),
    "lite2-192x640": _preset("efficientnet-lite2", 192, 640),
    "lite0-352x1216": _preset("efficientnet-lite0", 352, 1216),
    # small input for quick CPU experiments and tests
    "lite0-96x320": _preset("efficientnet-lite0", 96, 320),
}


def list_presets() -> list[str]:
    """Known preset names."""
    return sorted(PRESETS)


def get_preset(name: str = DEFAULT_PRESET) -> ModelConfig:
    """A fresh ``ModelConfig`` for ``name``; unknown names raise ``ValueError``."""
    try:
        factory = PRESETS[name]
    except KeyError:
        raise ValueError(
            f"unknown model preset {name!r}; known presets: {', '.join(list_presets())}"
        ) from None
    return factory()
