"""KITTI raw data with ground truth from the annotated depth maps or projected velodyne scans.

Layout (as downloaded from the KITTI raw-data page; ``.png`` or ``.jpg`` images)::

    ROOT/2011_09_26/calib_cam_to_cam.txt, calib_velo_to_cam.txt
    ROOT/2011_09_26/2011_09_26_drive_0002_sync/image_02/data/0000000069.png   left colour
    ROOT/2011_09_26/2011_09_26_drive_0002_sync/image_03/data/0000000069.png   right colour
    ROOT/2011_09_26/2011_09_26_drive_0002_sync/velodyne_points/data/0000000069.bin

Annotated depth (KITTI depth completion / prediction release: uint16 PNG, metres * 256,
0 = none) is looked up per drive under GT_ROOT (default ROOT) as
``DRIVE/proj_depth/groundtruth/image_0c/FRAME.png``, also inside ``train/`` and ``val/``
(the release's own split) and ``DATE/DRIVE/`` (next to the raw data).

Item ``i``: ``image`` (and with ``aux`` the stereo partner) (H, W, 3) uint8 RGB, ``depth`` =
``lidar`` = the ground truth (H, W) float32 metres (0 = none), ``eval_mask`` (the Garg crop
of the full frame, cut like the images), ``fx, fy, cx, cy`` from ``P_rect_0c``,
``baseline_m`` from the ``P_rect_02`` / ``P_rect_03`` difference, ``index``, ``name``.
A right-side entry (``r``) with ``aux`` is mirrored (main = flipped image_03, aux = flipped
image_02, ground truth flipped, ``cx`` mirrored), so that the partner is again at ``+B`` along
x as the network expects. ``kb_crop`` cuts the 352x1216 KB window (``protocol.kb_crop_box``)
from everything and shifts the principal point.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from iid_rdepth_ros.datasets.io import read_depth_png, read_rgb
from iid_rdepth_ros.datasets.kitti_calib import (
    KittiCalib,
    load_calib,
    project_velodyne,
    read_velodyne,
)
from iid_rdepth_ros.datasets.protocol import apply_box, crop_mask, kb_crop_box
from iid_rdepth_ros.datasets.splits import (
    KITTI_SPLITS,
    KittiEntry,
    file_digest,
    find_split,
    read_kitti_split,
)

GT_MODES = ("auto", "annotated", "velodyne")
#: ground truth the literature uses with each named test split
SPLIT_GT = {"eigen": "velodyne", "eigen_benchmark": "annotated"}
IMAGE_EXTS = (".png", ".jpg", ".jpeg")


class KittiDataset:
    """Frames of a KITTI split (see module docstring)."""

    stereo = True

    def __init__(self, root: str | Path, split: str = "eigen_benchmark", *, gt: str = "auto",
                 gt_root: str | Path | None = None, kb_crop: bool = False,
                 eval_crop: str = "garg", aux: bool = True, on_missing: str = "error") -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"KITTI data root {self.root} does not exist")
        if gt not in GT_MODES:
            raise ValueError(f"KITTI ground truth must be one of {GT_MODES}, got {gt!r}")
        if on_missing not in ("error", "skip"):
            raise ValueError(f"on_missing must be error or skip, got {on_missing!r}")
        crop_mask(eval_crop, (8, 8))  # validates the name
        self.gt_root = Path(gt_root) if gt_root is not None else self.root
        if not self.gt_root.is_dir():
            raise FileNotFoundError(f"KITTI ground-truth root {self.gt_root} does not exist")
        self.kb_crop, self.eval_crop, self.aux = bool(kb_crop), eval_crop, bool(aux)
        self.split_path, named = find_split("kitti", split, KITTI_SPLITS, self.root)
        entries = read_kitti_split(self.split_path)
        if named is not None and named.frames is not None and len(entries) != named.frames:
            raise ValueError(f"{self.split_path} lists {len(entries)} frames, but the official "
                             f"{split!r} split has {named.frames}: not the official list (pass "
                             "it as --split FILE to use it anyway)")
        self._gt_dirs: dict[tuple[str, int], Path | None] = {}
        self.gt = self._resolve_gt(gt, split, entries)
        self.entries: list[KittiEntry] = []
        self.files: list[dict[str, Path]] = []
        missing: dict[str, list[str]] = {"image": [], "ground truth": []}
        for e in entries:
            files = self._locate(e)
            lack = next((k for k in ("image", "ground truth") if files.get(k) is None), None)
            if lack is not None:  # counted once, for the first thing it lacks
                missing[lack].append(e.name)
            else:
                self.entries.append(e)
                self.files.append(files)
        self.skipped = {k: len(v) for k, v in missing.items()}
        if on_missing == "error":
            for kind, names in missing.items():
                if names:
                    raise FileNotFoundError(
                        f"KITTI split {split!r}: {len(names)} of {len(entries)} frames have no "
                        f"{kind} ({self.gt} ground truth) under {self.root}"
                        f"{'' if kind == 'image' else f' / {self.gt_root}'}; first: "
                        f"{', '.join(names[:3])}")
        if not self.entries:
            raise ValueError(f"KITTI split {split!r}: none of its {len(entries)} frames has "
                             f"both an image and {self.gt} ground truth")
        self.split = split
        self.names = [e.name for e in self.entries]
        self.meta = {
            "format": "kitti-raw", "split": split, "split_file": str(self.split_path),
            "split_sha": file_digest(self.split_path), "ground_truth": self.gt,
            "gt_root": str(self.gt_root), "kb_crop": self.kb_crop, "eval_crop": self.eval_crop,
            "frames": len(self.entries), "listed": len(entries), "skipped": self.skipped,
        }

    # -- locating files -----------------------------------------------------------------------
    def _resolve_gt(self, gt: str, split: str, entries: Sequence[KittiEntry]) -> str:
        if gt != "auto":
            return gt
        if split in SPLIT_GT:
            return SPLIT_GT[split]
        first = entries[0]
        return "annotated" if self._gt_dir(first.date, first.drive, first.camera) else "velodyne"

    def _gt_dir(self, date: str, drive: str, cam: int) -> Path | None:
        key = (drive, cam)
        if key not in self._gt_dirs:
            tail = Path("proj_depth") / "groundtruth" / f"image_0{cam}"
            found = None
            for base in (self.gt_root / drive, self.gt_root / "train" / drive,
                         self.gt_root / "val" / drive, self.gt_root / date / drive):
                if (base / tail).is_dir():
                    found = base / tail
                    break
            self._gt_dirs[key] = found
        return self._gt_dirs[key]

    def _image(self, e: KittiEntry, cam: int) -> Path | None:
        folder = self.root / e.date / e.drive / f"image_0{cam}" / "data"
        for ext in IMAGE_EXTS:
            path = folder / f"{e.frame:010d}{ext}"
            if path.is_file():
                return path
        return None

    def _locate(self, e: KittiEntry) -> dict[str, Any]:
        cam = e.camera
        files: dict[str, Any] = {"image": self._image(e, cam)}
        gt_path = None
        if self.gt == "annotated":
            d = self._gt_dir(e.date, e.drive, cam) if e.has_gt else None
            if d is not None and (d / f"{e.frame:010d}.png").is_file():
                gt_path = d / f"{e.frame:010d}.png"
        else:
            velo = (self.root / e.date / e.drive / "velodyne_points" / "data"
                    / f"{e.frame:010d}.bin")
            gt_path = velo if velo.is_file() else None
        files["ground truth"] = gt_path
        return files

    # -- items --------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.entries)

    def calib(self, date: str) -> KittiCalib:
        """Calibration of a recording date (cached)."""
        return _calib(str(self.root / date))

    def __getitem__(self, i: int) -> dict[str, Any]:
        if not 0 <= i < len(self.entries):
            raise IndexError(f"frame {i} out of range 0..{len(self.entries) - 1}")
        e, files = self.entries[i], self.files[i]
        cam, other = e.camera, 5 - e.camera
        calib = self.calib(e.date)
        image = read_rgb(files["image"])
        h, w = image.shape[:2]
        expected = calib.image_size.get(cam)
        if expected is not None and expected != (h, w):
            raise ValueError(f"{files['image']}: image is {h}x{w}, calibration S_rect_0{cam} "
                             f"says {expected[0]}x{expected[1]}")
        if self.gt == "annotated":
            depth = read_depth_png(files["ground truth"], 256.0)
        else:
            depth = project_velodyne(read_velodyne(files["ground truth"]),
                                     calib.velo_to_image(cam), (h, w))
        if depth.shape != (h, w):
            raise ValueError(f"{files['ground truth']}: ground truth is {depth.shape}, "
                             f"image is {(h, w)}")
        fx, fy, cx, cy = calib.intrinsics(cam)
        item: dict[str, Any] = {"fx": fx, "fy": fy, "cx": cx, "cy": cy,
                                "baseline_m": calib.baseline(2, 3), "index": i, "name": e.name}
        mask = crop_mask(self.eval_crop, (h, w))
        aux = None
        if self.aux:
            path = self._image(e, other)
            if path is None:
                raise FileNotFoundError(f"stereo partner of {files['image']} not found "
                                        f"(image_0{other}/data/{e.frame:010d}.png)")
            aux = read_rgb(path)
            if aux.shape != image.shape:
                raise ValueError(f"{path}: {aux.shape} differs from the main image "
                                 f"{image.shape}")
            if e.side == "r":  # mirror so that the partner sits at +B along x
                image, aux, depth = image[:, ::-1], aux[:, ::-1], depth[:, ::-1]
                mask = None if mask is None else mask[:, ::-1]
                item["cx"] = (w - 1) - cx
        if self.kb_crop:
            box = kb_crop_box(h, w)
            image, depth = apply_box(image, box), apply_box(depth, box)
            aux = None if aux is None else apply_box(aux, box)
            mask = None if mask is None else apply_box(mask, box)
            item["cx"] -= box[1]
            item["cy"] -= box[0]
        item["image"] = np.ascontiguousarray(image)
        item["depth"] = item["lidar"] = np.ascontiguousarray(depth)
        if aux is not None:
            item["aux"] = np.ascontiguousarray(aux)
        if mask is not None:
            item["eval_mask"] = np.ascontiguousarray(mask)
        return item


@lru_cache(maxsize=64)
def _calib(date_dir: str) -> KittiCalib:
    return load_calib(date_dir)


def open_kitti(root: str | Path | None, split: str, **options: Any) -> KittiDataset:
    """Registry opener (``datasets.open_dataset("kitti", ...)``)."""
    if root is None:
        raise ValueError("the KITTI data set needs a data root (--data-root DIR)")
    return KittiDataset(os.fspath(root), split, **options)
