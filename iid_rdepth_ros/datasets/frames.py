"""Torch view of a depth data set (a reader such as ``SynthStreetDataset``) for training.

Each item holds the network inputs at the model's input size and the ground truth at the data's
own size (the loss and validation compare at that size: the model decodes to ``out_size``)::

    image  (3, H, W) float32 RGB in [0, 1]      main (left) view, resized to the input size
    aux    (3, H, W) float32 RGB in [0, 1]      rectified right view (only with ``aux=True``)
    lidar  (1, h, w) float32 metres, 0 = none   sparse ground truth (the training target)
    depth  (1, h, w) float32 metres, 0 = none   ground truth for validation / evaluation:
                                                the reader's ``depth``, zeroed outside its
                                                ``eval_mask`` (the protocol crop) if it has one
    fx        float  focal length in pixels at the network input size (fx * W / w)
    baseline  float  stereo baseline B in metres
    fb        float  fx * B at the input size (disparity in input pixels = fb / depth). The
                     network itself takes ``canonical_focal * B`` (``model.focal.stereo_fb``).
    index     int

Readers: any sequence of the item dicts in docs/interfaces.md -- ``SynthStreetDataset`` or the
real-data readers of ``datasets`` (KITTI, NYU, folder), see ``DepthFrames.from_dataset``.
A reader with ``stereo = False`` cannot be opened with ``aux=True``.

No augmentation: the encoder is frozen and its features are cached per frame (so an image
must be fed exactly as cached), and a horizontal flip would swap the left/right geometry of a
stereo pair. The synth-street generator provides the variety instead.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

_REQUIRED = ("image", "lidar", "depth", "fx", "baseline_m")


def _resize_image(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    h, w = size
    if img.shape[:2] == (h, w):
        return img
    import cv2

    shrink = img.shape[0] > h or img.shape[1] > w
    return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def _to_tensor(img: np.ndarray) -> torch.Tensor:
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {img.shape} {img.dtype}")
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float().div_(255.0)


def read_meta(root: str | Path) -> dict[str, Any]:
    """The data directory's ``meta.json`` ({} when it has none)."""
    path = Path(root) / "meta.json"
    return json.loads(path.read_text()) if path.is_file() else {}


class DepthFrames(torch.utils.data.Dataset):
    """Tensors for training / validation from a frame reader (see module docstring)."""

    def __init__(self, reader: Sequence[dict[str, Any]], input_size: tuple[int, int], *,
                 aux: bool = True, root: str | Path | None = None,
                 indices: Sequence[int] | None = None) -> None:
        h, w = input_size
        if h % 32 or w % 32 or h <= 0 or w <= 0:
            raise ValueError(f"input size must be positive multiples of 32, got {input_size}")
        if len(reader) == 0:
            raise ValueError(f"data set {root or ''} has no frames")
        if aux and getattr(reader, "stereo", True) is False:
            name = (getattr(reader, "meta", None) or {}).get("format", type(reader).__name__)
            raise ValueError(f"data set {name} is mono only (no auxiliary right view): use it "
                             "without the aux path (--aux off / stage2.aux_prob=0)")
        self.reader = reader
        self.indices = list(range(len(reader))) if indices is None else [int(i) for i in indices]
        bad = [i for i in self.indices if not 0 <= i < len(reader)]
        if bad:
            raise ValueError(f"frame indices out of range 0..{len(reader) - 1}: {bad[:5]}")
        self.input_size = (int(h), int(w))
        self.aux = aux
        self.root = Path(root) if root is not None else getattr(reader, "root", None)

    @classmethod
    def from_dataset(cls, name: str, split: str, input_size: tuple[int, int], *,
                     root: str | Path | None = None, aux: bool = True, limit: int = 0,
                     **options: object) -> DepthFrames:
        """Open ``split`` of a registered data set (``datasets``); ``limit`` > 0 keeps
        that many evenly spaced frames. ``options`` go to the reader (e.g. ``gt``, ``kb_crop``)."""
        from iid_rdepth_ros.datasets import get_dataset, open_dataset

        if aux and get_dataset(name).stereo is False:
            raise ValueError(f"the {name} data set is mono only (no auxiliary right view): use "
                             "it without the aux path (--aux off / stage2.aux_prob=0)")
        if "aux" in get_dataset(name).options:
            options["aux"] = aux
        reader = open_dataset(name, split, root, **options)
        return cls(reader, input_size, aux=aux and bool(getattr(reader, "stereo", True)),
                   root=getattr(reader, "root", root), indices=_spaced(len(reader), limit))

    @classmethod
    def from_dir(cls, root: str | Path, input_size: tuple[int, int], *, aux: bool = True,
                 limit: int = 0) -> DepthFrames:
        """Open a synth-street directory; ``limit`` > 0 keeps that many evenly spaced frames."""
        from iid_rdepth_ros.synth.dataset import SynthStreetDataset

        root = Path(root)
        if not (root / "meta.json").is_file():
            raise FileNotFoundError(f"{root} is not a synth-street data set (no meta.json)")
        reader = SynthStreetDataset(root)
        return cls(reader, input_size, aux=aux, root=root, indices=_spaced(len(reader), limit))

    @property
    def meta(self) -> dict[str, Any]:
        """The reader's ``meta`` (synth-street: ``meta.json``); part of feature-cache keys."""
        meta = getattr(self.reader, "meta", None)
        if isinstance(meta, dict):
            return meta
        return read_meta(self.root) if self.root is not None else {}

    def name(self, i: int) -> str:
        """Stable name of our frame ``i`` (the reader's ``names``, else the frame index)."""
        names = getattr(self.reader, "names", None)
        return str(names[self.indices[i]]) if names is not None else f"{self.indices[i]:06d}"

    def __len__(self) -> int:
        return len(self.indices)

    def raw(self, i: int) -> dict[str, Any]:
        """The reader's item for our frame ``i`` with its keys checked."""
        item = self.reader[self.indices[i]]
        missing = [k for k in _REQUIRED + (("aux",) if self.aux else ()) if k not in item]
        if missing:
            raise ValueError(f"frame {i} lacks {missing}")
        return item

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = self.raw(i)
        img = np.asarray(item["image"])
        h0, w0 = img.shape[:2]
        self._check_aspect(h0, w0)
        fx = float(item["fx"]) * self.input_size[1] / w0
        out: dict[str, Any] = {
            "image": _to_tensor(_resize_image(img, self.input_size)),
            "lidar": self._depth(item["lidar"], (h0, w0), "lidar"),
            "depth": self._depth(eval_depth(item), (h0, w0), "depth"),
            "fx": fx,
            "baseline": float(item["baseline_m"]),
            "fb": fx * float(item["baseline_m"]),
            "index": int(item.get("index", self.indices[i])),
        }
        if self.aux:
            aux = np.asarray(item["aux"])
            if aux.shape != img.shape:
                raise ValueError(f"frame {i}: aux shape {aux.shape} != image shape {img.shape}")
            out["aux"] = _to_tensor(_resize_image(aux, self.input_size))
        return out

    def _check_aspect(self, h0: int, w0: int) -> None:
        h, w = self.input_size
        if not getattr(self, "_aspect_warned", False) and abs((h / w) / (h0 / w0) - 1) > 0.05:
            self._aspect_warned = True
            warnings.warn(f"frames of {h0}x{w0} are resized to the network's {h}x{w}: the aspect "
                          "ratio changes by more than 5 % (choose the model input size, e.g. "
                          "--set model.input_height=..., to match the data)", stacklevel=3)

    @staticmethod
    def _depth(arr: Any, shape: tuple[int, int], name: str) -> torch.Tensor:
        d = np.asarray(arr, dtype=np.float32)
        if d.shape != shape:
            raise ValueError(f"{name} shape {d.shape} != image shape {shape}")
        return torch.from_numpy(np.ascontiguousarray(d))[None]


def eval_depth(item: dict[str, Any]) -> np.ndarray:
    """The item's ``depth`` as float32, zeroed outside its ``eval_mask`` (if any)."""
    depth = np.asarray(item["depth"], dtype=np.float32)
    mask = item.get("eval_mask")
    if mask is None:
        return depth
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != depth.shape:
        raise ValueError(f"eval_mask shape {mask.shape} != depth shape {depth.shape}")
    return np.where(mask, depth, np.float32(0.0))


def _spaced(n: int, limit: int) -> np.ndarray | None:
    """``limit`` evenly spaced indices of ``n`` (None = all)."""
    if 0 < limit < n:
        return np.unique(np.linspace(0, n - 1, limit).round().astype(int))
    return None


def collate(items: list[dict[str, Any]], ragged: bool = False) -> dict[str, Any]:
    """Stack items into a batch (floats become (B,) float32 tensors).

    Tensors of different shapes (e.g. KITTI ground truth of drives recorded on different days)
    are a ValueError, or with ``ragged`` a list of tensors.
    """
    batch: dict[str, Any] = {}
    for key in items[0]:
        values = [it[key] for it in items]
        if isinstance(values[0], torch.Tensor):
            shapes = {tuple(v.shape) for v in values}
            if len(shapes) > 1:
                if ragged:
                    batch[key] = values
                    continue
                raise ValueError(
                    f"frames of different sizes in one batch ({key}: "
                    f"{', '.join('x'.join(map(str, s[-2:])) for s in sorted(shapes))}); "
                    "training needs one size: crop them (KITTI: --kb-crop) or use batch size 1")
            batch[key] = torch.stack(values)
        elif isinstance(values[0], str):
            batch[key] = values
        elif key == "index":
            batch[key] = torch.tensor(values, dtype=torch.long)
        else:
            batch[key] = torch.tensor(values, dtype=torch.float32)
    return batch
