"""Registry of depth data sets: one name -> reader, evaluation protocol and training defaults.

Every reader is a sequence whose item ``i`` is the dict documented in docs/interfaces.md
(``image`` (H, W, 3) uint8 RGB, optional ``aux`` (the rectified right view), ``depth`` and
``lidar`` (H, W) float32 metres with 0 = none, ``fx, fy, cx, cy, baseline_m``, ``index``, and
optionally ``eval_mask`` (the protocol's evaluation crop) and ``name``), and has ``meta`` (a
JSON-able description, part of feature-cache keys) and ``stereo`` (whether ``aux`` exists).

This module is light (no torch, no OpenCV): readers are imported when a data set is opened.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class DatasetSpec:
    """What the rest of the code needs to know about one data set."""

    name: str
    summary: str
    opener: str  # "module:function" taking (root, split, **options)
    stereo: bool | None  # None: depends on the data (folder data set)
    min_depth: float
    max_depth: float
    eval_crop: str  # protocol crop: garg | eigen | none
    options: tuple[str, ...] = ()
    test_split: str | None = None  # what `evaluate` uses without --split
    config_defaults: dict[str, Any] = field(default_factory=dict)  # training-config defaults


_PKG = "iid_rdepth_ros.datasets"
DATASETS: dict[str, DatasetSpec] = {
    "synth": DatasetSpec(
        "synth", "synth-street directories (iid-rdepth synth)", f"{_PKG}:open_synth", True,
        1e-3, 80.0, "none", ("eval_crop", "aux")),
    "kitti": DatasetSpec(
        "kitti", "KITTI raw + annotated depth or projected velodyne (Eigen splits)",
        f"{_PKG}.kitti:open_kitti", True, 1e-3, 80.0, "garg",
        ("gt", "gt_root", "kb_crop", "eval_crop", "aux", "on_missing"), "eigen_benchmark",
        {"data.train": "eigen_train", "data.val": "eigen_val", "data.kb_crop": True}),
    "nyu": DatasetSpec(
        "nyu", "NYU Depth v2 (labeled .mat or extracted folders), mono",
        f"{_PKG}.nyu:open_nyu", False, 1e-3, 10.0, "eigen", ("eval_crop",), "test",
        {"data.train": "train", "data.val": "test", "data.max_depth": 10.0,
         "stage2.aux_prob": 0.0}),
    "folder": DatasetSpec(
        "folder", "your own images + depth + intrinsics.yaml (training_on_your_data.md)",
        f"{_PKG}.folder:open_folder", None, 1e-3, 80.0, "none", ("eval_crop", "aux"), "all",
        {"data.train": "all", "data.val": None}),
    "middlebury": DatasetSpec(
        "middlebury", "Middlebury stereo scenes (im0/im1, calib.txt, disp0[GT].pfm): real pairs",
        f"{_PKG}.middlebury:open_middlebury", True, 1e-3, 80.0, "none", ("eval_crop", "aux"),
        "all", {"data.train": "all", "data.val": None}),
}


def get_dataset(name: str) -> DatasetSpec:
    """The spec of ``name``; unknown names raise ValueError listing the known ones."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(DATASETS)}") from None


def resolve_crop(name: str, eval_crop: str | None) -> str:
    """``auto`` / None -> the data set's protocol crop."""
    return get_dataset(name).eval_crop if eval_crop in (None, "auto") else eval_crop


def open_dataset(name: str, split: str, root: str | Path | None = None,
                 **options: Any) -> Any:
    """Open data set ``name``'s ``split`` under ``root`` (None-valued options are dropped)."""
    spec = get_dataset(name)
    options = {k: v for k, v in options.items() if v is not None}
    unknown = sorted(set(options) - set(spec.options))
    if unknown:
        raise ValueError(f"option(s) {', '.join(unknown)} do not apply to the {name} data set "
                         f"(it takes {', '.join(spec.options) or 'none'})")
    if "eval_crop" in spec.options:
        options["eval_crop"] = resolve_crop(name, options.get("eval_crop"))
    module, func = spec.opener.split(":")
    return getattr(importlib.import_module(module), func)(root, split, **options)


class _WithCrop:
    """A reader whose items gain ``eval_mask`` (an evaluation crop it does not apply itself)."""

    def __init__(self, reader: Any, crop: str) -> None:
        self.reader, self.crop = reader, crop
        self.root = getattr(reader, "root", None)
        self.meta = {**getattr(reader, "meta", {}), "eval_crop": crop}
        self.stereo = getattr(reader, "stereo", True)

    def __len__(self) -> int:
        return len(self.reader)

    def __getitem__(self, i: int) -> dict[str, Any]:
        from iid_rdepth_ros.datasets.protocol import crop_mask

        item = dict(self.reader[i])
        mask = crop_mask(self.crop, np.shape(item["depth"]))
        if mask is not None:
            item["eval_mask"] = mask
        return item


def open_synth(root: str | Path | None, split: str, *, eval_crop: str = "none",
               aux: bool = True) -> Any:
    """A synth-street directory: ``split`` itself, or ``root/split`` when a root is given."""
    from iid_rdepth_ros.synth.dataset import SynthStreetDataset

    path = Path(root) / split if root is not None else Path(split)
    if not (path / "meta.json").is_file():
        raise FileNotFoundError(f"{path} is not a synth-street data set (no meta.json)")
    reader = SynthStreetDataset(path)
    reader.stereo = True
    return reader if eval_crop == "none" else _WithCrop(reader, eval_crop)
