"""NYU Depth v2: the labeled ``.mat`` (MATLAB v7.3 = HDF5) and the extracted-folder layout.

Labeled set (``nyu_depth_v2_labeled.mat``, 1449 frames, read with h5py): MATLAB stores arrays
column-major, so h5py sees them transposed -- ``images`` as (N, 3, 640, 480) uint8 and
``depths`` as (N, 640, 480) float32 metres; frame ``n`` is ``images[n].transpose(2, 1, 0)``
and ``depths[n].T``. Splits: ``all``, or ``train`` / ``test`` (795 / 654 frames, Eigen et al.)
from the official ``splits.mat`` (``trainNdxs`` / ``testNdxs``, 1-based) next to the ``.mat``
or in a split directory (``splits.find_split``), or ``--split FILE`` (a ``splits.mat``-style file
or a text file of 1-based indices).

Extracted folders (the layout of the common extraction scripts): ``SCENE/rgb_00045.jpg`` with
``SCENE/sync_depth_00045.png`` (16-bit, millimetres) -- ``train`` reads ``ROOT/sync``, ``test``
``ROOT/official_splits/test``, ``all`` every pair under ROOT; or ``--split FILE`` with lines
``/scene/rgb_00045.jpg /scene/sync_depth_00045.png [focal]`` relative to ROOT, ``ROOT/sync`` or
``ROOT/official_splits/test``.

Mono only (Kinect + one colour camera): items have no ``aux`` and ``baseline_m`` 0. Camera:
the NYU toolbox's colour intrinsics. Protocol: Eigen crop (``protocol.eigen_crop_mask``),
1e-3..10 m.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from iid_rdepth_ros.datasets.io import read_depth_png, read_rgb
from iid_rdepth_ros.datasets.protocol import crop_mask
from iid_rdepth_ros.datasets.splits import NamedSplit, file_digest, find_split, read_list

#: NYU Depth v2 toolbox (camera_params.m): colour camera fx, fy, cx, cy at 640x480
NYU_FX, NYU_FY, NYU_CX, NYU_CY = 518.8579, 519.4696, 325.5824, 253.7362
LABELED_MAT = "nyu_depth_v2_labeled.mat"
LABELED_FRAMES = 1449
SPLITS_MAT = "splits.mat"
NYU_SPLITS = {"train": NamedSplit("Eigen et al. training frames (795)", (SPLITS_MAT,), 795),
              "test": NamedSplit("Eigen et al. test frames (654)", (SPLITS_MAT,), 654)}
_SPLIT_KEYS = {"train": "trainNdxs", "test": "testNdxs"}


def _item(image: np.ndarray, depth: np.ndarray, index: int, name: str, eval_crop: str,
          fx: float = NYU_FX, fy: float = NYU_FY) -> dict[str, Any]:
    if image.shape[:2] != depth.shape:
        raise ValueError(f"{name}: image {image.shape[:2]} and depth {depth.shape} differ")
    item: dict[str, Any] = {"image": image, "depth": depth, "lidar": depth, "fx": fx, "fy": fy,
                            "cx": NYU_CX, "cy": NYU_CY, "baseline_m": 0.0, "index": index,
                            "name": name}
    mask = crop_mask(eval_crop, depth.shape)
    if mask is not None:
        item["eval_mask"] = mask
    return item


class NyuLabeled:
    """Frames of ``nyu_depth_v2_labeled.mat`` (see module docstring)."""

    stereo = False

    def __init__(self, path: str | Path, split: str = "test", *, eval_crop: str = "eigen"
                 ) -> None:
        import h5py

        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"NYU labeled file not found: {self.path}")
        crop_mask(eval_crop, (480, 640))
        self.eval_crop = eval_crop
        if not h5py.is_hdf5(self.path):
            raise ValueError(f"{self.path} is not a MATLAB v7.3 (HDF5) file; the NYU labeled set "
                             f"{LABELED_MAT} is one (older MAT versions are not supported)")
        with h5py.File(self.path, "r") as f:
            for key in ("images", "depths"):
                if key not in f:
                    raise ValueError(f"{self.path} has no '{key}' array (is it {LABELED_MAT}?)")
            n, ch, w, h = f["images"].shape
            if ch != 3 or f["depths"].shape != (n, w, h):
                raise ValueError(f"{self.path}: images {f['images'].shape} / depths "
                                 f"{f['depths'].shape} are not the labeled set's (N, 3, W, H) / "
                                 "(N, W, H) layout")
        self.total = int(n)
        self.frames, self.split_file = self._split(split)
        self.split = split
        self.names = [f"nyu_{k + 1:05d}" for k in self.frames]  # MATLAB's 1-based frame number
        self.meta = {"format": "nyu-labeled-mat", "file": str(self.path), "split": split,
                     "split_sha": file_digest(self.split_file) if self.split_file else None,
                     "frames": len(self.frames), "eval_crop": eval_crop,
                     "ground_truth": "depths (labeled set, metres)"}
        self._h5: Any = None
        self._pid = -1

    def _split(self, split: str) -> tuple[list[int], Path | None]:
        if split == "all":
            return list(range(self.total)), None
        beside = self.path.parent / SPLITS_MAT
        if split in NYU_SPLITS and beside.is_file():
            path, named = beside, NYU_SPLITS[split]
        else:
            path, named = find_split("nyu", split, NYU_SPLITS, self.path.parent)
        if path.suffix == ".mat":
            from scipy.io import loadmat

            data = loadmat(path)
            keys = [_SPLIT_KEYS[split]] if split in _SPLIT_KEYS else [
                k for k in _SPLIT_KEYS.values() if k in data]
            if len(keys) != 1 or keys[0] not in data:
                raise ValueError(f"{path}: cannot tell which frames split {split!r} means "
                                 "(expected the official splits.mat with --split train|test)")
            idx = np.asarray(data[keys[0]]).ravel().astype(int)
        else:
            try:
                idx = np.array([int(t) for t in read_list(path)], dtype=int)
            except ValueError:
                raise ValueError(f"{path}: a NYU split file lists 1-based frame numbers, one "
                                 "per line") from None
        full = self.total == LABELED_FRAMES  # the official file: the official split sizes
        if full and named is not None and named.frames is not None and len(idx) != named.frames:
            raise ValueError(f"{path}: {split!r} has {len(idx)} frames, the official one "
                             f"{named.frames}")
        if len(idx) == 0 or idx.min() < 1 or idx.max() > self.total:
            raise ValueError(f"{path}: frame numbers must be in 1..{self.total}")
        return [int(k) - 1 for k in idx], path

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_h5"], state["_pid"] = None, -1  # h5py handles do not cross processes
        return state

    def _file(self) -> Any:
        if self._h5 is None or self._pid != os.getpid():  # one handle per (worker) process
            import h5py

            self._h5 = h5py.File(self.path, "r")
            self._pid = os.getpid()
        return self._h5

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, i: int) -> dict[str, Any]:
        if not 0 <= i < len(self.frames):
            raise IndexError(f"frame {i} out of range 0..{len(self.frames) - 1}")
        f = self._file()
        k = self.frames[i]
        image = np.ascontiguousarray(np.asarray(f["images"][k]).transpose(2, 1, 0))
        depth = np.ascontiguousarray(np.asarray(f["depths"][k], dtype=np.float32).T)
        return _item(image, depth, i, self.names[i], self.eval_crop)


_RGB = re.compile(r"^rgb_(\d+)\.(jpg|jpeg|png)$")


class NyuFolder:
    """Extracted NYU frames: ``rgb_N.jpg`` + ``sync_depth_N.png`` in millimetres."""

    stereo = False

    def __init__(self, root: str | Path, split: str = "test", *, eval_crop: str = "eigen"
                 ) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"NYU data root {self.root} does not exist")
        crop_mask(eval_crop, (480, 640))
        self.eval_crop = eval_crop
        self.split = split
        self.pairs, self.focals, split_file = self._pairs(split)
        if not self.pairs:
            raise ValueError(f"no NYU frames (rgb_N.jpg + sync_depth_N.png) for split {split!r} "
                             f"under {self.root}")
        self.names = [_name(self.root, rgb) for rgb, _ in self.pairs]
        self.meta = {"format": "nyu-folder", "root": str(self.root), "split": split,
                     "split_sha": file_digest(split_file) if split_file else None,
                     "frames": len(self.pairs), "eval_crop": eval_crop,
                     "ground_truth": "sync_depth PNG (mm)"}

    def _pairs(self, split: str
               ) -> tuple[list[tuple[Path, Path]], list[float | None], Path | None]:
        sub = {"train": "sync", "test": os.path.join("official_splits", "test"), "all": ""}
        if split in sub:
            folder = self.root / sub[split]
            if not folder.is_dir():
                raise FileNotFoundError(f"NYU split {split!r} expects {folder}")
            pairs = _scan(folder)
            return pairs, [None] * len(pairs), None
        path = Path(split)
        if not path.is_file():
            raise FileNotFoundError(f"NYU split {split!r} is neither train, test, all nor a file")
        pairs, focals = [], []
        bases = (self.root, self.root / "sync", self.root / "official_splits" / "test")
        for n, line in enumerate(path.read_text().splitlines(), 1):
            tokens = line.split("#", 1)[0].split()
            if not tokens:
                continue
            if len(tokens) < 2:
                raise ValueError(f"{path}:{n}: expected 'RGB DEPTH [focal]'")
            rel_rgb, rel_depth = tokens[0].lstrip("/"), tokens[1].lstrip("/")
            base = next((b for b in bases if (b / rel_rgb).is_file()), None)
            if base is None or not (base / rel_depth).is_file():
                raise FileNotFoundError(f"{path}:{n}: {rel_rgb} / {rel_depth} not found under "
                                        f"{self.root}")
            pairs.append((base / rel_rgb, base / rel_depth))
            focals.append(float(tokens[2]) if len(tokens) > 2 else None)
        return pairs, focals, path

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> dict[str, Any]:
        if not 0 <= i < len(self.pairs):
            raise IndexError(f"frame {i} out of range 0..{len(self.pairs) - 1}")
        rgb, depth = self.pairs[i]
        focal = self.focals[i]
        fx, fy = (NYU_FX, NYU_FY) if focal is None else (focal, focal * NYU_FY / NYU_FX)
        return _item(read_rgb(rgb), read_depth_png(depth, 1000.0), i, self.names[i],
                     self.eval_crop, fx, fy)


def _scan(folder: Path) -> list[tuple[Path, Path]]:
    pairs = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        names = set(filenames)
        for fname in sorted(filenames):
            m = _RGB.match(fname)
            if not m:
                continue
            for prefix in ("sync_depth_", "depth_"):
                if f"{prefix}{m.group(1)}.png" in names:
                    pairs.append((Path(dirpath) / fname,
                                  Path(dirpath) / f"{prefix}{m.group(1)}.png"))
                    break
    return pairs


def _name(root: Path, rgb: Path) -> str:
    rel = rgb.relative_to(root).with_suffix("")
    return "_".join(rel.parts)


def open_nyu(root: str | Path | None, split: str, **options: Any) -> NyuLabeled | NyuFolder:
    """Registry opener: a ``.mat`` file or a folder holding ``nyu_depth_v2_labeled.mat`` reads
    the labeled set, any other folder the extracted layout."""
    if root is None:
        raise ValueError("the NYU data set needs a data root (--data-root DIR or the .mat file)")
    root = Path(root)
    if root.is_file():
        return NyuLabeled(root, split, **options)
    if (root / LABELED_MAT).is_file():
        return NyuLabeled(root / LABELED_MAT, split, **options)
    return NyuFolder(root, split, **options)
