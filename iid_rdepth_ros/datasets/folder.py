"""Generic folder data set: your own robot's images, depth and intrinsics.

Layout::

    DIR/intrinsics.yaml     camera and depth encoding (below)
    DIR/images/NAME.png     rgb (.png / .jpg), any 8-bit colour image
    DIR/depth/NAME.png      16-bit PNG (unit in intrinsics.yaml) or NAME.npy float metres
    DIR/right/NAME.png      optional rectified right image (needs baseline_m)
    DIR/train.txt, val.txt  optional lists of NAMEs (one per line) for --split train|val

``intrinsics.yaml``::

    fx: 525.0          # pixels, at the size of the images in images/
    fy: 525.0
    cx: 319.5
    cy: 239.5
    depth_unit: mm     # 16-bit PNG depth: mm (value / 1000) or 1/256 (value / 256, KITTI);
                       # .npy depth is always metres
    baseline_m: 0.12   # only with right/: distance between the rectified cameras (m)
    width: 640         # optional: checked against every image
    height: 480

Frames are the names present in both ``images/`` and ``depth/`` (a name in only one of them is
reported as an error). Split ``all`` takes every frame, ``train`` / ``val`` the names in
``train.txt`` / ``val.txt``, anything else is read as a list file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from iid_rdepth_ros.datasets.io import read_depth_npy, read_depth_png, read_rgb
from iid_rdepth_ros.datasets.protocol import crop_mask
from iid_rdepth_ros.datasets.splits import file_digest, listed_names

INTRINSICS = "intrinsics.yaml"
DEPTH_UNITS = {"mm": 1000.0, "1/256": 256.0}
IMAGE_EXTS = (".png", ".jpg", ".jpeg")
_KEYS = {"fx", "fy", "cx", "cy", "depth_unit", "baseline_m", "width", "height"}


def read_intrinsics(path: str | Path) -> dict[str, Any]:
    """The checked contents of ``intrinsics.yaml`` (safe YAML: tags such as ``!!python`` are
    refused, never built); ValueError naming the file and the problem."""
    from iid_rdepth_ros.artifacts.config_loader import read_yaml_mapping

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: a folder data set needs its camera "
                                "intrinsics (fx, fy, cx, cy, depth_unit)")
    data = read_yaml_mapping(path, "camera intrinsics")
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {unknown}; known: {sorted(_KEYS)}")
    for key in ("fx", "fy", "cx", "cy"):
        value = data.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{path}: {key} must be a number, got {value!r}")
    if not (data["fx"] > 0 and data["fy"] > 0):
        raise ValueError(f"{path}: fx and fy must be > 0")
    unit = str(data.get("depth_unit", "mm"))
    if unit not in DEPTH_UNITS:
        raise ValueError(f"{path}: depth_unit must be one of {sorted(DEPTH_UNITS)}, "
                         f"got {unit!r}")
    data["depth_unit"] = unit
    b = data.get("baseline_m")
    if b is not None and (isinstance(b, bool) or not isinstance(b, int | float) or b <= 0):
        raise ValueError(f"{path}: baseline_m must be a positive number, got {b!r}")
    return data


def _files(folder: Path, exts: tuple[str, ...]) -> dict[str, Path]:
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in exts}


class FolderDataset:
    """Frames of a folder data set (see module docstring)."""

    def __init__(self, root: str | Path, split: str = "all", *, eval_crop: str = "none",
                 aux: bool = True) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"data directory {self.root} does not exist")
        self.intrinsics = read_intrinsics(self.root / INTRINSICS)
        crop_mask(eval_crop, (480, 640))
        self.eval_crop = eval_crop
        images = _files(self.root / "images", IMAGE_EXTS)
        depths = _files(self.root / "depth", (".png", ".npy"))
        if not images:
            raise ValueError(f"{self.root}/images has no .png/.jpg images")
        only = sorted(set(images) ^ set(depths))
        if only:
            raise ValueError(f"{self.root}: {len(only)} frame(s) have an image but no depth or "
                             f"the other way round, first: {only[:3]}")
        rights = _files(self.root / "right", IMAGE_EXTS)
        self.stereo = bool(rights)
        if self.stereo:
            lacking = sorted(set(images) - set(rights))
            if lacking:
                raise ValueError(f"{self.root}/right lacks {len(lacking)} frame(s), first: "
                                 f"{lacking[:3]}")
            if self.intrinsics.get("baseline_m") is None:
                raise ValueError(f"{self.root / INTRINSICS}: right/ images need baseline_m")
        self.aux = bool(aux) and self.stereo
        names, split_file = self._split(split, sorted(images))
        self.split = split
        self.names = names
        self.images = [images[n] for n in names]
        self.depths = [depths[n] for n in names]
        self.rights = [rights[n] for n in names] if self.stereo else []
        self.meta = {"format": "folder", "root": str(self.root), "split": split,
                     "split_sha": file_digest(split_file) if split_file else None,
                     "frames": len(names), "eval_crop": eval_crop, "stereo": self.stereo,
                     "intrinsics": {k: self.intrinsics.get(k) for k in sorted(_KEYS)},
                     "ground_truth": "depth/ folder"}

    def _split(self, split: str, available: list[str]) -> tuple[list[str], Path | None]:
        if split == "all":
            return available, None
        path = self.root / f"{split}.txt" if split in ("train", "val") else Path(split)
        if not path.is_file():
            raise FileNotFoundError(f"split {split!r}: {path} not found (use --split all or a "
                                    "list of frame names)")
        return listed_names(path, available, "frame(s) are not in images/",
                            key=lambda n: Path(n).stem), path

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, i: int) -> dict[str, Any]:
        if not 0 <= i < len(self.names):
            raise IndexError(f"frame {i} out of range 0..{len(self.names) - 1}")
        k = self.intrinsics
        image = read_rgb(self.images[i])
        h, w = image.shape[:2]
        if (k.get("height"), k.get("width")) not in ((None, None), (h, w)):
            raise ValueError(f"{self.images[i]} is {w}x{h}, {INTRINSICS} says "
                             f"{k.get('width')}x{k.get('height')}")
        path = self.depths[i]
        depth = (read_depth_npy(path) if path.suffix == ".npy"
                 else read_depth_png(path, DEPTH_UNITS[k["depth_unit"]]))
        if depth.shape != (h, w):
            raise ValueError(f"{path}: depth is {depth.shape}, image is {(h, w)}")
        item: dict[str, Any] = {
            "image": image, "depth": depth, "lidar": depth, "fx": float(k["fx"]),
            "fy": float(k["fy"]), "cx": float(k["cx"]), "cy": float(k["cy"]),
            "baseline_m": float(k.get("baseline_m") or 0.0), "index": i, "name": self.names[i]}
        if self.aux:
            aux = read_rgb(self.rights[i])
            if aux.shape != image.shape:
                raise ValueError(f"{self.rights[i]}: {aux.shape} differs from {image.shape}")
            item["aux"] = aux
        mask = crop_mask(self.eval_crop, (h, w))
        if mask is not None:
            item["eval_mask"] = mask
        return item


def open_folder(root: str | Path | None, split: str, **options: Any) -> FolderDataset:
    """Registry opener."""
    if root is None:
        raise ValueError("the folder data set needs a data root (--data-root DIR)")
    return FolderDataset(root, split, **options)
