"""Stage-2 optimizer groups: parameters new in stage 2 get stage2.new_lr_scale x the lr."""

from __future__ import annotations

from types import SimpleNamespace

from iid_rdepth_ros.model import build_model, get_preset
from iid_rdepth_ros.training.train import _param_groups


def test_new_parameters_get_their_own_lr_scale() -> None:
    cfg = get_preset("lite0-192x640")
    model = build_model(cfg, variant="full", pretrained_encoder=False)
    model.set_stage(2)
    stage1 = set(build_model(cfg, variant="baseline", pretrained_encoder=False).state_dict())
    groups = _param_groups(model, 2, SimpleNamespace(new_lr_scale=5.0))
    assert [g["lr_scale"] for g in groups] == [1.0, 5.0]
    ids = {g["lr_scale"]: {id(p) for p in g["params"]} for g in groups}
    named = dict(model.named_trainable_parameters())
    for name, p in named.items():
        expected = 1.0 if name in stage1 else 5.0
        assert id(p) in ids[expected], name
    assert any(n.startswith("avlfe.") for n, p in named.items() if id(p) in ids[5.0])
    assert any(n.startswith("head.") for n, p in named.items() if id(p) in ids[1.0])
    assert sum(len(g["params"]) for g in groups) == len(named)


def test_one_group_when_scale_is_one_or_stage_one() -> None:
    cfg = get_preset("lite0-192x640")
    model = build_model(cfg, variant="full", pretrained_encoder=False)
    model.set_stage(2)
    groups = _param_groups(model, 2, SimpleNamespace(new_lr_scale=1.0))
    assert len(groups) == 1 and groups[0]["lr_scale"] == 1.0
    base = build_model(cfg, variant="baseline", pretrained_encoder=False)
    base.set_stage(1)
    assert len(_param_groups(base, 1, SimpleNamespace(new_lr_scale=3.0))) == 1
