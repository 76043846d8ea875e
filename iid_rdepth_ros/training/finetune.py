"""Fine-tuning a trained full model (``stage2.init_from`` = ``default`` or a stage-2 checkpoint).

A fine-tune is a stage-2 run that starts from every weight of a full (stage-2) checkpoint
instead of a stage-1 baseline. The network is the checkpoint's: its config, with the
``model`` overrides of the run applied to the keys in :data:`MAY_CHANGE` only (input size,
canonical focal, depth range and bins, T, AV-LFE's depth candidates and refinement). Another
``n_bins`` re-initialises the two layers shaped by it (the BCP's output layer and the bin
head's logits); every other weight must load. A new depth range keeps the weights: the bins
keep their learnt relative layout over the new range, and the fine-tune re-learns where depth
lies in it. ``stage2.trainable`` chooses what trains (``stage2``: what ``set_stage(2)``
trains; ``decoder``: every weight but the frozen encoder). The model card records
``fine_tuned_from``: the checkpoint as named, its weights' SHA-256, its training data and
steps, the config keys that changed and the re-initialised weights.
"""

from __future__ import annotations

from typing import Any

#: config keys (dotted) a fine-tune may change; the rest define the network it continues
MAY_CHANGE = ("name", "input_height", "input_width", "canonical_focal", "min_depth",
              "max_depth", "decoder.n_bins", "decoder.bin_space", "decoder.bin_init_near",
              "diffusion.steps", "diffusion.train_steps", "avlfe.near_depth",
              "avlfe.far_depth", "avlfe.refine*", "stereo.max_disparity")
#: weights shaped by ``decoder.n_bins`` (re-initialised when it changes)
BIN_SHAPED = ("bcp.mlp.", "head.logits.")
TRAINABLE = ("stage2", "decoder")


def base_checkpoint(cfg: Any) -> dict[str, Any] | None:
    """``{ref, weights, card}`` when ``stage2.init_from`` names a full checkpoint (a fine-tune),
    None for ``stage1`` / ``snapshot`` / a stage-1 (baseline) checkpoint."""
    from iid_rdepth_ros.artifacts.checkpoint_ref import checkpoint_files, read_card

    ref = cfg.stage2.init_from
    if ref in ("stage1", "snapshot") or cfg.stage == "1":
        return None
    try:
        weights, card_path = checkpoint_files(ref)
    except FileNotFoundError:
        return None  # train.py names the missing file when stage 2 starts
    card = read_card(card_path)
    if card.get("variant") != "full":
        return None
    if cfg.stage != "2":
        raise ValueError(f"config stage: stage2.init_from={ref} is a trained full model, which "
                         "is fine-tuned in stage 2 alone: use --stage 2")
    return {"ref": str(ref), "weights": weights, "card": card, "card_path": card_path}


def _flat(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def _may_change(key: str) -> bool:
    return any(key == k or (k.endswith("*") and key.startswith(k[:-1])) for k in MAY_CHANGE)


def model_config(cfg: Any, base: dict[str, Any]) -> Any:
    """The checkpoint's ModelConfig with the run's ``model`` overrides (:data:`MAY_CHANGE`)."""
    from iid_rdepth_ros.model.checkpoint import card_config
    from iid_rdepth_ros.model.config import ModelConfig
    from iid_rdepth_ros.model.presets import DEFAULT_PRESET
    from iid_rdepth_ros.training.config import deep_update

    own = card_config(base["card"], base["card_path"])
    if cfg.preset not in (DEFAULT_PRESET, own.name):
        raise ValueError(f"config preset: {cfg.preset} differs from the network of "
                         f"{base['ref']} ({own.name}); a fine-tune keeps the checkpoint's "
                         "network (leave --preset out)")
    tree = own.to_dict()
    changed = sorted(k for k in _flat(cfg.model) if not _may_change(k))
    if changed:
        raise ValueError(f"config model: a fine-tune of {base['ref']} keeps its network; "
                         f"{', '.join(changed)} cannot change (may change: "
                         f"{', '.join(MAY_CHANGE)}; train from scratch for the rest)")
    deep_update(tree, cfg.model)
    try:
        return ModelConfig.from_dict(tree)
    except ValueError as exc:
        raise ValueError(f"config model: {exc}") from None


def load_base(model: Any, base: dict[str, Any]) -> dict[str, Any]:
    """Load the checkpoint's weights into ``model`` (a full model of :func:`model_config`);
    returns the ``fine_tuned_from`` record of the model card."""
    import torch
    from safetensors.torch import load_file

    from iid_rdepth_ros.artifacts.files import sha256_file
    from iid_rdepth_ros.model.checkpoint import card_config

    card = base["card"]
    sha = sha256_file(base["weights"])
    if card.get("weights_sha256") not in (None, sha):
        raise ValueError(f"{base['weights']}: SHA-256 differs from its card (file corrupt or "
                         "replaced)")
    state = load_file(str(base["weights"]))
    own = model.decoder_state_dict()
    old_cfg = card_config(card, base["card_path"])
    bins_changed = old_cfg.decoder.n_bins != model.cfg.decoder.n_bins
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    if missing or extra:
        raise ValueError(f"{base['weights']} does not fit the fine-tuned network (missing "
                         f"{missing[:3]}, unexpected {extra[:3]})")
    fresh = []
    for key, value in state.items():
        if tuple(value.shape) != tuple(own[key].shape):
            if not (bins_changed and key.startswith(BIN_SHAPED)):
                raise ValueError(f"{base['weights']}: {key} has shape {tuple(value.shape)}, "
                                 f"the fine-tuned network needs {tuple(own[key].shape)}")
            fresh.append(key)
    with torch.no_grad():
        model.load_state_dict({k: v for k, v in state.items() if k not in fresh}, strict=False)
    before, after = _flat(old_cfg.to_dict()), _flat(model.cfg.to_dict())
    data = card.get("data") or {}
    train = data.get("train") if isinstance(data, dict) else None
    return {
        "checkpoint": base["ref"],
        "path": str(base["weights"]),
        "weights_sha256": sha,
        "variant": card.get("variant"),
        "preset": old_cfg.name,
        "data": ({k: train.get(k) for k in ("dataset", "dir", "split", "seed", "frames_used")}
                 if isinstance(train, dict) else data or None),
        "steps": card.get("steps"),
        "config_changes": {k: [before.get(k), after.get(k)] for k in sorted(after)
                           if before.get(k) != after.get(k)},
        "reinitialised": fresh,
    }


def apply_trainable(model: Any, trainable: str) -> None:
    """``stage2``: keep what ``set_stage(2)`` chose; ``decoder``: every weight but the frozen
    encoder's."""
    if trainable not in TRAINABLE:
        raise ValueError(f"stage2.trainable must be one of {TRAINABLE}, got {trainable!r}")
    if trainable == "decoder":
        for name, p in model.named_parameters():
            p.requires_grad_(not name.startswith("encoder."))

