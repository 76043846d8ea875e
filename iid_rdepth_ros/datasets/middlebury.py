"""Middlebury stereo scenes (2014 / 2021 / MiddEval3 layout): real rectified pairs with dense
ground-truth disparity, to score stereo depth on real cameras.

Layout: ``DIR`` is one scene folder or a folder of scene folders; a scene folder holds::

    im0.png                   rectified left image (the main view)
    im1.png                   rectified right image
    calib.txt                 cam0=[f 0 cx0; 0 f cy; 0 0 1]  cam1=[f 0 cx1; 0 f cy; 0 0 1]
                              doffs=cx1-cx0  baseline=B (mm)  (other keys are ignored)
    disp0.pfm | disp0GT.pfm   left disparity in pixels; inf = unknown

Ground truth depth ``Z = f * B / (d + doffs)`` (metres; 0 where unknown). The two cameras'
principal points differ by ``doffs`` in x, so a disparity measured in the images is
``f * B / Z - doffs``; the reader moves ``im1`` by ``cx0 - cx1`` (bilinear, sub-pixel; the
columns it uncovers are edge-replicated) so that both principal points coincide and the pair
follows the convention every consumer here expects (``disparity = f * B / Z``, as the runtime
does for a ROS camera pair from the two ``P`` matrices). Split ``all`` (the default) takes every
scene, anything else is read as a list of scene names.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from iid_rdepth_ros.datasets.io import read_rgb
from iid_rdepth_ros.datasets.splits import file_digest, listed_names

CALIB = "calib.txt"
DISPARITY_FILES = ("disp0.pfm", "disp0GT.pfm")
#: largest relative difference of the two cameras' focal lengths (and pixels of cy) for a pair
#: to count as rectified
RECTIFIED_RTOL = 0.01
_MATRIX = re.compile(r"^\[(.*)\]$")


def _matrix(text: str, path: Path, key: str) -> np.ndarray:
    match = _MATRIX.match(text.strip())
    rows = match.group(1).split(";") if match else []
    try:
        values = [[float(v) for v in row.split()] for row in rows]
        m = np.array(values, dtype=np.float64)
    except ValueError:
        m = np.zeros(0)
    if m.shape != (3, 3):
        raise ValueError(f"{path}: {key} must be a 3x3 matrix like [f 0 cx; 0 f cy; 0 0 1], "
                         f"got {text.strip()!r}")
    return m


def read_calib(path: str | Path) -> dict[str, float]:
    """``fx, fy, cx, cy`` (cam0), ``cx1, cy1, fx1, fy1`` (cam1), ``baseline_m`` and ``doffs`` of
    a Middlebury ``calib.txt``; ValueError naming the file and what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: a Middlebury scene needs its calib.txt")
    entries: dict[str, str] = {}
    for line in path.read_text(errors="replace").splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            entries[key.strip()] = value.strip()
    missing = [k for k in ("cam0", "cam1", "baseline") if k not in entries]
    if missing:
        raise ValueError(f"{path}: lacks {', '.join(missing)}")
    cam0, cam1 = _matrix(entries["cam0"], path, "cam0"), _matrix(entries["cam1"], path, "cam1")
    try:
        baseline_mm = float(entries["baseline"])
        doffs = float(entries.get("doffs", cam1[0, 2] - cam0[0, 2]))
    except ValueError:
        raise ValueError(f"{path}: baseline and doffs must be numbers") from None
    if not (np.isfinite(baseline_mm) and baseline_mm > 0):
        raise ValueError(f"{path}: baseline must be > 0 (millimetres), got {baseline_mm}")
    fx, fy, cx, cy = cam0[0, 0], cam0[1, 1], cam0[0, 2], cam0[1, 2]
    if not (fx > 0 and fy > 0):
        raise ValueError(f"{path}: cam0 focal lengths must be > 0")
    if (abs(cam1[0, 0] - fx) > RECTIFIED_RTOL * fx or abs(cam1[1, 1] - fy) > RECTIFIED_RTOL * fy
            or abs(cam1[1, 2] - cy) > 1.0):
        raise ValueError(f"{path}: cam0 and cam1 are not a rectified pair (their focal lengths "
                         "or cy differ)")
    if abs(doffs - (cam1[0, 2] - cam0[0, 2])) > 0.5:
        raise ValueError(f"{path}: doffs={doffs:g} is not cx1 - cx0 = "
                         f"{cam1[0, 2] - cam0[0, 2]:g}")
    return {"fx": fx, "fy": fy, "cx": cx, "cy": cy, "fx1": cam1[0, 0], "fy1": cam1[1, 1],
            "cx1": cam1[0, 2], "cy1": cam1[1, 2], "baseline_m": baseline_mm / 1000.0,
            "doffs": doffs}


def read_pfm(path: str | Path) -> np.ndarray:
    """A single-channel PFM as (H, W) float32 (OpenCV's reader: rows top first)."""
    import cv2

    arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise ValueError(f"cannot read disparity {path}: "
                         f"{'missing' if not Path(path).exists() else 'not a PFM image'}")
    if arr.ndim != 2 or arr.dtype != np.float32:
        raise ValueError(f"{path}: expected a single-channel float PFM, got {arr.dtype} with "
                         f"shape {arr.shape}")
    return arr


def disparity_to_depth(disparity: np.ndarray, fx: float, baseline_m: float,
                       doffs: float) -> np.ndarray:
    """Metres ``fx * B / (d + doffs)``; 0 where ``d`` is unknown (not finite) or
    ``d + doffs <= 0``."""
    d = np.asarray(disparity, dtype=np.float64)
    known = np.isfinite(d) & (d + doffs > 0)
    depth = np.zeros(d.shape, dtype=np.float32)
    depth[known] = fx * baseline_m / (d[known] + doffs)
    return depth


def shift_image(image: np.ndarray, dx: float, dy: float = 0.0) -> np.ndarray:
    """``image`` moved by ``(dx, dy)`` pixels (bilinear; uncovered borders edge-replicated)."""
    if dx == 0 and dy == 0:
        return image
    import cv2

    h, w = image.shape[:2]
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def _is_scene(folder: Path) -> bool:
    return (folder / CALIB).is_file()


class MiddleburyDataset:
    """Scenes of a Middlebury-layout folder (see module docstring)."""

    stereo = True

    def __init__(self, root: str | Path, split: str = "all", *, eval_crop: str = "none",
                 aux: bool = True) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"data directory {self.root} does not exist")
        if eval_crop not in ("none", "auto"):
            raise ValueError(f"the middlebury data set has no evaluation crop, got {eval_crop!r}")
        scenes = ({self.root.name: self.root} if _is_scene(self.root) else
                  {p.name: p for p in sorted(self.root.iterdir()) if p.is_dir() and _is_scene(p)})
        if not scenes:
            raise ValueError(f"{self.root} holds no Middlebury scene (a folder with {CALIB}, "
                             "im0.png, im1.png and disp0.pfm or disp0GT.pfm)")
        names, split_file = self._split(split, scenes)
        self.aux = bool(aux)
        self.names = names
        self.scenes = [scenes[n] for n in names]
        for folder in self.scenes:
            lacking = [f for f in ("im0.png", "im1.png") if not (folder / f).is_file()]
            if not any((folder / f).is_file() for f in DISPARITY_FILES):
                lacking.append(" or ".join(DISPARITY_FILES))
            if lacking:
                raise ValueError(f"{folder}: lacks {', '.join(lacking)}")
        self.meta = {"format": "middlebury", "root": str(self.root), "split": split,
                     "split_sha": file_digest(split_file) if split_file else None,
                     "frames": len(names), "eval_crop": "none", "stereo": True,
                     "scenes": names, "ground_truth": "disp0 (f * B / (d + doffs))"}

    def _split(self, split: str, scenes: dict[str, Path]) -> tuple[list[str], Path | None]:
        if split == "all":
            return sorted(scenes), None
        path = Path(split)
        if not path.is_file():
            raise FileNotFoundError(f"split {split!r}: {path} not found (use --split all or a "
                                    "file listing scene names)")
        return listed_names(path, scenes, f"scene(s) are not in {self.root}"), path

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, i: int) -> dict[str, Any]:
        if not 0 <= i < len(self.names):
            raise IndexError(f"scene {i} out of range 0..{len(self.names) - 1}")
        folder = self.scenes[i]
        calib = read_calib(folder / CALIB)
        image = read_rgb(folder / "im0.png")
        disp_path = next(folder / f for f in DISPARITY_FILES if (folder / f).is_file())
        disparity = read_pfm(disp_path)
        if disparity.shape != image.shape[:2]:
            raise ValueError(f"{disp_path}: disparity is {disparity.shape}, im0.png is "
                             f"{image.shape[:2]}")
        depth = disparity_to_depth(disparity, calib["fx"], calib["baseline_m"], calib["doffs"])
        item: dict[str, Any] = {
            "image": image, "depth": depth, "lidar": depth, "fx": calib["fx"],
            "fy": calib["fy"], "cx": calib["cx"], "cy": calib["cy"],
            "baseline_m": calib["baseline_m"], "index": i, "name": self.names[i]}
        if self.aux:
            aux = read_rgb(folder / "im1.png")
            if aux.shape != image.shape:
                raise ValueError(f"{folder / 'im1.png'}: {aux.shape} differs from im0.png "
                                 f"{image.shape}")
            item["aux"] = shift_image(aux, calib["cx"] - calib["cx1"], calib["cy"] - calib["cy1"])
        return item


def open_middlebury(root: str | Path | None, split: str, **options: Any) -> MiddleburyDataset:
    """Registry opener."""
    if root is None:
        raise ValueError("the middlebury data set needs a data root (--data DIR)")
    return MiddleburyDataset(root, split, **options)
