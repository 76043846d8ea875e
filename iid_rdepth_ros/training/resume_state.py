"""Resumable training state without pickle.

``DIR/state.safetensors`` holds every tensor (model state ``model.*``, optimizer state
``optim.<param>.<name>``, torch / numpy / Python RNG ``rng.*``); ``DIR/state.json`` holds the
scalars (stage, step, optimizer param groups, bookkeeping). A new state is written to a
temporary directory and swapped in with renames, so an interruption while saving leaves the
previous state readable (as ``DIR.old`` for the instant between the two renames).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

STATE_JSON = "state.json"
STATE_TENSORS = "state.safetensors"
FORMAT = "iid-rdepth-resume/1"


def _tensor_state(model: torch.nn.Module | None, optimizer: torch.optim.Optimizer | None
                  ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {}
    if model is not None:
        for k, v in model.state_dict().items():
            tensors[f"model.{k}"] = v.detach().cpu().clone().contiguous()
    if optimizer is not None:
        sd = optimizer.state_dict()
        per_param: dict[str, dict[str, Any]] = {}
        for pid, st in sd["state"].items():
            for name, v in st.items():
                if isinstance(v, torch.Tensor):
                    tensors[f"optim.{pid}.{name}"] = v.detach().cpu().clone().contiguous()
                else:
                    per_param.setdefault(str(pid), {})[name] = v
        scalars["optimizer"] = {"param_groups": sd["param_groups"], "scalars": per_param}
    tensors["rng.torch"] = torch.get_rng_state().clone()
    np_state = np.random.get_state()
    tensors["rng.numpy"] = torch.from_numpy(np.asarray(np_state[1], dtype=np.int64))
    py_version, py_internal, py_gauss = random.getstate()
    tensors["rng.python"] = torch.tensor(py_internal, dtype=torch.int64)
    scalars["rng"] = {"numpy": [np_state[0], int(np_state[2]), int(np_state[3]),
                                float(np_state[4])],
                      "python": [py_version, py_gauss]}
    return tensors, scalars


def save_state(directory: str | Path, state: dict[str, Any], *,
               model: torch.nn.Module | None = None,
               optimizer: torch.optim.Optimizer | None = None) -> None:
    """Write ``state`` (JSON-able scalars) plus model / optimizer / RNG state to ``directory``."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tensors, scalars = _tensor_state(model, optimizer)
    payload = {"format": FORMAT, **state, **scalars,
               "has_model": model is not None, "has_optimizer": optimizer is not None}
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        save_file(tensors, str(tmp / STATE_TENSORS), metadata={"format": FORMAT})
        (tmp / STATE_JSON).write_text(json.dumps(payload, indent=1))
        old = directory.with_name(directory.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if directory.exists():
            os.replace(directory, old)
        os.replace(tmp, directory)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def state_dir(directory: str | Path) -> Path | None:
    """The readable state directory (``directory`` or its ``.old`` fallback), or None."""
    directory = Path(directory)
    for cand in (directory, directory.with_name(directory.name + ".old")):
        if (cand / STATE_JSON).is_file() and (cand / STATE_TENSORS).is_file():
            return cand
    return None


def load_state(directory: str | Path, *, model: torch.nn.Module | None = None,
               optimizer: torch.optim.Optimizer | None = None,
               restore_rng: bool = True) -> dict[str, Any]:
    """Read a state written by :func:`save_state`, loading tensors into ``model`` /
    ``optimizer`` in place; return the JSON scalars."""
    found = state_dir(directory)
    if found is None:
        raise FileNotFoundError(f"no resume state in {directory}")
    payload = json.loads((found / STATE_JSON).read_text())
    if payload.get("format") != FORMAT:
        raise ValueError(f"{found}: unknown resume format {payload.get('format')!r}")
    tensors = load_file(str(found / STATE_TENSORS))
    if model is not None:
        if not payload.get("has_model"):
            raise ValueError(f"{found} holds no model state")
        sd = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
        model.load_state_dict(sd, strict=True)
    if optimizer is not None:
        if not payload.get("has_optimizer"):
            raise ValueError(f"{found} holds no optimizer state")
        opt = payload["optimizer"]
        state: dict[int, dict[str, Any]] = {}
        for k, v in tensors.items():
            if k.startswith("optim."):
                _, pid, name = k.split(".", 2)
                state.setdefault(int(pid), {})[name] = v
        for pid, extra in opt["scalars"].items():
            state.setdefault(int(pid), {}).update(extra)
        groups = [dict(g, betas=tuple(g["betas"])) if "betas" in g else g
                  for g in opt["param_groups"]]
        optimizer.load_state_dict({"state": state, "param_groups": groups})
    if restore_rng:
        torch.set_rng_state(tensors["rng.torch"])
        kind, pos, has_gauss, cached = payload["rng"]["numpy"]
        keys = tensors["rng.numpy"].numpy().astype(np.uint32)
        np.random.set_state((kind, keys, pos, has_gauss, cached))
        version, gauss = payload["rng"]["python"]
        internal = tuple(int(v) for v in tensors["rng.python"].tolist())
        random.setstate((version, internal, gauss))
    return payload
