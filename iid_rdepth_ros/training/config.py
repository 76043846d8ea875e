"""Typed training configuration, loaded from YAML with dotted command-line overrides.

Resolution order: the shipped ``configs/default.yaml``, then an optional user YAML (which may
set only some keys), then ``key.sub=value`` overrides (values parsed as YAML scalars, so
``stage2.steps=500`` is an int and ``data.val=null`` is ``None``). Unknown keys raise a
``ValueError`` that names every one of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iid_rdepth_ros.artifacts.config_loader import (
    from_plain,
    load_yaml,
    read_yaml_mapping,
    to_plain,
)

DEFAULT_CONFIG = Path(__file__).with_name("configs") / "default.yaml"
SCHEDULES = ("constant", "cosine")
STAGES = ("1", "2", "both")
CACHE_MODES = ("off", "memory", "disk")
AMP_MODES = ("off", "bf16", "fp16")
GT_MODES = ("auto", "annotated", "velodyne")


@dataclass
class DataConfig:
    """Where the frames come from (``datasets``; synth-street by default).

    ``train`` / ``val`` are directories for synth-street and split names or list files for the
    other data sets (whose files live under ``root``).
    """

    dataset: str = "synth"  # synth | kitti | nyu | folder
    root: str | None = None  # data root (kitti / nyu / folder; synth: optional parent of splits)
    train: str = "data/synth/train"
    val: str | None = "data/synth/val"
    val_frames: int = 64  # frames used by periodic validation (0 = the whole split)
    min_depth: float = 1e-3
    max_depth: float = 80.0
    eval_crop: str = "auto"  # auto (the data set's protocol) | garg | eigen | none
    gt: str = "auto"  # kitti ground truth: auto | annotated | velodyne
    gt_root: str | None = None  # kitti: where the annotated depth maps are (default: root)
    kb_crop: bool = False  # kitti: cut the 352x1216 KB window from every frame
    workers: int = 0  # DataLoader worker processes that read frames when cache.mode=off


@dataclass
class StageConfig:
    """Optimisation settings shared by both stages."""

    steps: int = 1000
    lr: float = 2e-4
    weight_decay: float = 1e-2
    schedule: str = "cosine"  # constant | cosine (both after a linear warm-up)
    warmup_steps: int = 50
    min_lr_ratio: float = 0.05  # cosine floor as a fraction of lr
    # weight of the log-L1 to OpenCV SGBM depth hints of the training stereo pairs on the
    # pixels without LiDAR (every step, whatever the output; 0 = LiDAR only)
    hint_weight: float = 0.0


@dataclass
class Stage1Config(StageConfig):
    """Stage 1: the baseline decoder on the frozen encoder."""

    snapshot_at: int | None = None  # also save a separate stage-1 checkpoint at this step


@dataclass
class Stage2Config(StageConfig):
    """Stage 2: diffusion restoration, invertible stages and AV-LFE on top of stage 1."""

    aux_prob: float = 0.5  # fraction of batches trained with the auxiliary view
    diffusion_steps: int | None = None  # T in training (None = model.diffusion.train_steps)
    init_from: str = "stage1"  # "stage1" (this run's final), "snapshot", or a checkpoint path
    new_lr_scale: float = 1.0  # lr multiplier for parameters that stage 1 did not have
    # weight of the log-L1 loss on AV-LFE's own stereo depth (aux steps; 0 = indirect only)
    stereo_loss_weight: float = 0.0
    # what trains: "stage2" (set_stage(2)) or "decoder" (every weight but the frozen encoder)
    trainable: str = "stage2"


@dataclass
class CacheConfig:
    """Frozen-encoder feature cache (see training/feature_cache.py)."""

    mode: str = "memory"  # off (encode every step) | memory | disk (.npy beside the data)
    dir: str | None = None  # disk mode: cache root (default: DATA/.feature_cache)


@dataclass
class TrainConfig:
    """Everything one ``iid-rdepth train`` run needs."""

    data: DataConfig = field(default_factory=DataConfig)
    preset: str = "lite0-192x640"
    model: dict[str, Any] = field(default_factory=dict)  # nested ModelConfig overrides
    stage: str = "both"  # 1 | 2 | both
    stage1: Stage1Config = field(default_factory=Stage1Config)
    stage2: Stage2Config = field(default_factory=Stage2Config)
    batch_size: int = 8
    grad_clip: float = 1.0  # max global grad norm; 0 disables clipping
    val_every: int = 250  # 0 disables periodic validation (a final one still runs)
    ckpt_every: int = 250  # resume-state interval in steps; 0 = only at stage ends
    log_every: int = 10
    seed: int = 0
    num_threads: int = 2
    device: str = "cpu"  # cpu | cuda | cuda:N | auto (cuda when available)
    amp: str = "off"  # off | bf16 | fp16 (fp16 on CUDA only, with a GradScaler)
    cache: CacheConfig = field(default_factory=CacheConfig)
    out_dir: str = "out/train"
    progress: bool = True

    def validate(self) -> TrainConfig:
        """Check value ranges; raise ValueError naming the offending key."""
        _check(self.stage in STAGES, "stage", f"must be one of {STAGES}, got {self.stage!r}")
        _check(self.batch_size >= 1, "batch_size", "must be >= 1")
        _check(self.grad_clip >= 0, "grad_clip", "must be >= 0")
        _check(self.num_threads >= 1, "num_threads", "must be >= 1")
        for key in ("val_every", "ckpt_every", "log_every"):
            _check(getattr(self, key) >= 0, key, "must be >= 0")
        _check(self.device in ("cpu", "cuda", "auto") or self.device.startswith("cuda:"),
               "device", f"must be cpu, cuda, cuda:N or auto, got {self.device!r}")
        _check(self.cache.mode in CACHE_MODES, "cache.mode", f"must be one of {CACHE_MODES}")
        _check(self.amp in AMP_MODES, "amp", f"must be one of {AMP_MODES}, got {self.amp!r}")
        self._validate_data()
        _check(self.data.val_frames >= 0, "data.val_frames", "must be >= 0")
        _check(0 < self.data.min_depth < self.data.max_depth, "data.min_depth",
               "need 0 < min_depth < max_depth")
        for name in ("stage1", "stage2"):
            st: StageConfig = getattr(self, name)
            _check(st.steps >= 0, f"{name}.steps", "must be >= 0")
            _check(st.lr > 0, f"{name}.lr", "must be > 0")
            _check(st.weight_decay >= 0, f"{name}.weight_decay", "must be >= 0")
            _check(st.schedule in SCHEDULES, f"{name}.schedule", f"must be one of {SCHEDULES}")
            _check(st.warmup_steps >= 0, f"{name}.warmup_steps", "must be >= 0")
            _check(0 <= st.min_lr_ratio <= 1, f"{name}.min_lr_ratio", "must be in [0, 1]")
            _check(st.hint_weight >= 0, f"{name}.hint_weight", "must be >= 0")
        snap = self.stage1.snapshot_at
        _check(snap is None or 0 < snap < self.stage1.steps, "stage1.snapshot_at",
               f"must be in (0, stage1.steps={self.stage1.steps}), got {snap}")
        _check(0 <= self.stage2.aux_prob <= 1, "stage2.aux_prob", "must be in [0, 1]")
        _check(self.stage2.new_lr_scale > 0, "stage2.new_lr_scale", "must be > 0")
        _check(self.stage2.stereo_loss_weight >= 0, "stage2.stereo_loss_weight",
               "must be >= 0")
        _check(self.stage2.trainable in ("stage2", "decoder"), "stage2.trainable",
               f"must be stage2 or decoder, got {self.stage2.trainable!r}")
        t = self.stage2.diffusion_steps
        _check(t is None or t >= 1, "stage2.diffusion_steps", "must be >= 1 or null")
        _check(bool(self.stage2.init_from), "stage2.init_from", "must not be empty")
        _check(not (self.stage2.init_from == "snapshot" and snap is None),
               "stage2.init_from", "'snapshot' needs stage1.snapshot_at")
        _check(not (self.stage == "2" and self.stage2.init_from in ("stage1", "snapshot")),
               "stage2.init_from", "stage 2 alone needs a stage-1 checkpoint path "
               "(--init-from CKPT)")
        return self

    def _validate_data(self) -> None:
        from iid_rdepth_ros.datasets import DATASETS
        from iid_rdepth_ros.datasets.protocol import CROPS

        d = self.data
        _check(d.dataset in DATASETS, "data.dataset",
               f"must be one of {tuple(DATASETS)}, got {d.dataset!r}")
        _check(d.eval_crop in ("auto", *CROPS), "data.eval_crop",
               f"must be one of {('auto', *CROPS)}, got {d.eval_crop!r}")
        _check(d.gt in GT_MODES, "data.gt", f"must be one of {GT_MODES}, got {d.gt!r}")
        _check(d.workers >= 0, "data.workers", "must be >= 0")
        spec = DATASETS[d.dataset]
        _check(d.dataset == "synth" or d.root is not None, "data.root",
               f"the {d.dataset} data set needs its data root (--data-root DIR)")
        for key, default in (("gt", "auto"), ("gt_root", None), ("kb_crop", False)):
            _check(getattr(d, key) == default or key in spec.options, f"data.{key}",
                   f"does not apply to the {d.dataset} data set")
        _check(not (spec.stereo is False and self.stage != "1" and self.stage2.aux_prob > 0),
               "stage2.aux_prob", f"the {d.dataset} data set is mono only (no auxiliary view): "
               "set stage2.aux_prob=0")
        for name, stage in (("stage1", "2"), ("stage2", "1")):  # (config, the other stage)
            _check(not (spec.stereo is False and self.stage != stage
                        and getattr(self, name).hint_weight > 0),
                   f"{name}.hint_weight", f"the {d.dataset} data set is mono only (no stereo "
                   f"pair for SGBM hints): set {name}.hint_weight=0")

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (YAML/JSON friendly)."""
        return to_plain(self)


def _check(ok: bool, key: str, msg: str) -> None:
    if not ok:
        raise ValueError(f"config {key}: {msg}")


def load_config(path: str | Path | None = None, overrides: list[str] | None = None
                ) -> TrainConfig:
    """Resolve default.yaml + optional user YAML + ``key=value`` overrides to a TrainConfig.

    Keys that neither the user YAML nor an override sets take the chosen data set's defaults
    (``datasets.DATASETS[...].config_defaults``, e.g. NYU: ``data.max_depth=10``,
    ``stage2.aux_prob=0``) before the shipped defaults.
    """
    tree = read_yaml_mapping(DEFAULT_CONFIG)
    explicit: set[str] = set()
    if path is not None:
        user = read_yaml_mapping(path)
        explicit |= _leaf_keys(user)
        deep_update(tree, user)
    for item in overrides or []:
        key, value = parse_override(item)
        explicit |= {key} | (_leaf_keys(value, key + ".") if isinstance(value, dict) else set())
        _set_dotted(tree, key, value)
    _apply_dataset_defaults(tree, explicit)
    return from_dict(tree).validate()


def _leaf_keys(tree: dict[str, Any], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for k, v in tree.items():
        keys.add(prefix + str(k))
        if isinstance(v, dict):
            keys |= _leaf_keys(v, f"{prefix}{k}.")
    return keys


def _apply_dataset_defaults(tree: dict[str, Any], explicit: set[str]) -> None:
    from iid_rdepth_ros.datasets import DATASETS

    data = tree.get("data")
    name = data.get("dataset", "synth") if isinstance(data, dict) else "synth"
    spec = DATASETS.get(name)
    if spec is None:
        return  # validate() names the bad value
    for key, value in spec.config_defaults.items():
        if key not in explicit:
            _set_dotted(tree, key, value)


def parse_override(item: str) -> tuple[str, Any]:
    """Split ``a.b=value`` into (``"a.b"``, YAML-parsed value)."""
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ValueError(f"override {item!r} is not of the form key.sub=value")
    import yaml

    try:
        value = load_yaml(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise ValueError(f"override {item!r}: value is not valid YAML ({exc})") from None
    return key, value


def from_dict(tree: dict[str, Any]) -> TrainConfig:
    """Build a TrainConfig from a nested dict (``artifacts.config_loader`` rules: unknown keys
    and wrong types raise ValueError naming them)."""
    return from_plain(TrainConfig, tree)


def save_config(cfg: TrainConfig, path: str | Path) -> None:
    """Write the resolved config as YAML (atomically)."""
    import yaml

    from iid_rdepth_ros.artifacts.files import write_text_atomic

    write_text_atomic(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False))


def deep_update(dst: dict[str, Any], src: dict[str, Any]) -> None:
    """Merge the nested dict ``src`` into ``dst`` in place (sub-dicts merged, values replaced)."""
    for key, value in src.items():
        if isinstance(value, dict) and isinstance(dst.get(key), dict):
            deep_update(dst[key], value)
        else:
            dst[key] = value


def _set_dotted(tree: dict[str, Any], key: str, value: Any) -> None:
    node = tree
    parts = key.split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif not isinstance(child, dict):
            raise ValueError(f"override {key!r}: {part!r} is not a section")
        node = child
    node[parts[-1]] = value
