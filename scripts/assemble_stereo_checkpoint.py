"""Build a geometry-first stereo checkpoint from a trained full model (its mono path is kept
bit for bit), a trained stereo matcher and a trained fusion.

    .venv/bin/python scripts/assemble_stereo_checkpoint.py --mono default \
        --matcher RUN/matcher.safetensors --fusion RUN/fusion/fusion.safetensors \
        --out iid_rdepth_ros/checkpoints/default --card-note "..."

The new config has ``avlfe.enabled: false`` and ``stereo.enabled: true``: AV-LFE's depth
candidates, its bin-head prior and the ZNCC refinement are dropped; without an auxiliary view
the model computes exactly what ``--mono`` computes. The card keeps the source card's training
record and validation metrics under ``mono_training`` (its other entries as they are;
AV-LFE's ``metrics_note`` is dropped with AV-LFE) and records where the matcher and fusion
came from (with their SHA-256), so the step counts stay countable.
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

import torch
from safetensors.torch import load_file

from iid_rdepth_ros.artifacts.files import sha256_file
from iid_rdepth_ros.model.checkpoint import load_checkpoint, save_checkpoint
from iid_rdepth_ros.model.factory import build_model
from iid_rdepth_ros.model.stereo_fusion import fusion_blocks
from iid_rdepth_ros.model.stereo_matcher import (
    image_branch_width,
    refines_full_resolution,
    s2_layout,
)
from iid_rdepth_ros.model.stereo_skips import enhancer_width


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mono", default="default", help="full checkpoint whose mono path is kept")
    p.add_argument("--matcher", required=True, help="StereoMatcher state (safetensors)")
    p.add_argument("--fusion", required=True, help="StereoMonoFusion state (safetensors)")
    p.add_argument("--out", required=True, help="output stem (NAME.safetensors + NAME.yaml)")
    p.add_argument("--max-disparity", type=int, default=192)
    p.add_argument("--matcher-info", default="{}", help="JSON: how the matcher was trained")
    p.add_argument("--fusion-info", default="{}", help="JSON: how the fusion was trained")
    p.add_argument("--skips", default=None,
                   help="AlignedSkipEnhancer state (train_stereo_skips.py; default: none)")
    p.add_argument("--fusion-local", type=int, default=0,
                   help="the fusion's local window (train_stereo_fusion.py --local)")
    a = p.parse_args()

    source, card = load_checkpoint(a.mono)
    cfg = copy.deepcopy(source.cfg)
    cfg.avlfe.enabled = False
    cfg.stereo.enabled = True
    cfg.stereo.max_disparity = a.max_disparity
    matcher_state = load_file(a.matcher)
    cfg.stereo.image_features8 = image_branch_width(matcher_state)
    cfg.stereo.refine1 = refines_full_resolution(matcher_state)
    layout = s2_layout(matcher_state)
    cfg.stereo.cost2, cfg.stereo.blocks2 = str(layout["cost2"]), int(layout["blocks2"])
    fusion_state = load_file(a.fusion)
    cfg.stereo.fusion_blocks = fusion_blocks(fusion_state)
    cfg.stereo.fusion_local = a.fusion_local
    skips_state = load_file(a.skips) if a.skips else {}
    cfg.stereo.skip_hidden = enhancer_width(skips_state) if skips_state else 0
    cfg.validate()
    model = build_model(cfg, variant="full", pretrained_encoder=True)
    # the source's own stereo parts (a geometry-first source has them) give way to the new ones
    state = {k: v for k, v in source.decoder_state_dict().items()
             if not k.startswith(("avlfe.", "matcher.", "fusion.", "skips."))}
    state.update({f"matcher.{k}": v for k, v in matcher_state.items()})
    state.update({f"fusion.{k}": v for k, v in fusion_state.items()})
    state.update({f"skips.{k}": v for k, v in skips_state.items()})
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("encoder.")]
    if missing or unexpected:
        raise SystemExit(f"state does not fit: missing {missing[:5]}, unexpected "
                         f"{unexpected[:5]}")
    model.eval()
    from iid_rdepth_ros.model.checkpoint import RESERVED_CARD_KEYS

    kept = {k: v for k, v in card.items()
            if k not in RESERVED_CARD_KEYS and k not in ("training", "metrics", "metrics_note")}
    out_card = {
        **kept,
        "stereo": {
            "path": "geometry-first matcher + confidence-weighted fusion (model.stereo_*)",
            "matcher": {"file": str(a.matcher), "sha256": sha256_file(Path(a.matcher)),
                        **json.loads(a.matcher_info)},
            "fusion": {"file": str(a.fusion), "sha256": sha256_file(Path(a.fusion)),
                       **json.loads(a.fusion_info)},
            **({"skips": {"file": str(a.skips), "sha256": sha256_file(Path(a.skips))}}
               if a.skips else {}),
            "mono_from": {"checkpoint": str(a.mono),
                          "weights_sha256": card.get("weights_sha256")},
        },
        # the source's training record; its validation metrics were measured on the AV-LFE
        # model (their ``stereo`` entries are AV-LFE's, not this model's)
        # (a geometry-first source passes its own record on)
        "mono_training": card.get("mono_training") or {
            "training": card.get("training"),
            "validation_metrics_of_the_source": card.get("metrics")},
    }
    with torch.no_grad():  # the mono path must be the source's, bit for bit
        image = torch.rand(1, 3, cfg.input_height, cfg.input_width,
                           generator=torch.Generator().manual_seed(0))
        if not torch.equal(model(image), source(image)):
            raise SystemExit("mono output differs from the source checkpoint's")
    weights, card_path = save_checkpoint(a.out, model, out_card)
    print(f"wrote {weights} and {card_path}")


if __name__ == "__main__":
    main()
