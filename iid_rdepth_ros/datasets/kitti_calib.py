"""KITTI raw calibration files and the projection of velodyne scans into a camera.

``calib_cam_to_cam.txt`` (per recording date) holds, per camera ``0X``, ``S_rect_0X`` (rectified
image size: width height), ``R_rect_0X`` (3x3, row-major) and ``P_rect_0X`` (3x4 projection of
the rectified camera); ``calib_velo_to_cam.txt`` holds ``R`` (3x3) and ``T`` (3) from the
velodyne frame to camera 0. Every line is ``key: numbers`` (``calib_time`` is text).

Velodyne ground truth (the Eigen-split convention of the depth literature): a scan
(``velodyne_points/data/*.bin``, float32 x y z reflectance) is projected with
``P_rect_0c @ R_rect_00 @ Tr_velo_to_cam`` (homogeneous, reflectance replaced by 1); points
behind the scanner (x < 0) or the camera (projected depth <= 0) are dropped; depth is the
third row of the projection; the pixel is the rounded projection minus one (the original
MATLAB devkit indexes from 1, and the published Eigen-split numbers were computed with this
shift); points outside the image are dropped; where several points land on one pixel the
nearest is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

CAM_TO_CAM = "calib_cam_to_cam.txt"
VELO_TO_CAM = "calib_velo_to_cam.txt"


def read_calib_file(path: str | Path) -> dict[str, np.ndarray]:
    """Numeric entries of a KITTI calibration text file (``key: v1 v2 ...``) as float64 arrays.

    Non-numeric entries (``calib_time``) are skipped; a line without ``:`` is a ValueError.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"KITTI calibration file not found: {path}")
    out: dict[str, np.ndarray] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        key, sep, rest = line.partition(":")
        if not sep:
            raise ValueError(f"{path}:{n}: expected 'key: values', got {line[:60]!r}")
        try:
            out[key.strip()] = np.array([float(v) for v in rest.split()], dtype=np.float64)
        except ValueError:
            continue  # calib_time and other text entries
    return out


def _get(entries: dict[str, np.ndarray], key: str, size: int, path: Path) -> np.ndarray:
    if key not in entries:
        raise ValueError(f"{path}: missing entry {key}")
    value = entries[key]
    if value.size != size:
        raise ValueError(f"{path}: {key} has {value.size} values, expected {size}")
    return value


@dataclass(frozen=True)
class KittiCalib:
    """Rectified projections of cameras 2 and 3, ``R_rect_00`` and velodyne -> camera 0."""

    p_rect: dict[int, np.ndarray]  # camera -> (3, 4)
    r_rect: np.ndarray  # (3, 3) R_rect_00
    velo_to_cam: np.ndarray | None  # (4, 4), None without calib_velo_to_cam.txt
    image_size: dict[int, tuple[int, int]] = field(default_factory=dict)  # camera -> (h, w)

    def intrinsics(self, cam: int) -> tuple[float, float, float, float]:
        """``fx, fy, cx, cy`` of rectified camera ``cam``."""
        p = self.p_rect[cam]
        return float(p[0, 0]), float(p[1, 1]), float(p[0, 2]), float(p[1, 2])

    def baseline(self, left: int = 2, right: int = 3) -> float:
        """Stereo baseline in metres: ``(P_left[0,3] - P_right[0,3]) / fx`` (> 0)."""
        pl, pr = self.p_rect[left], self.p_rect[right]
        return float((pl[0, 3] - pr[0, 3]) / pl[0, 0])

    def velo_to_image(self, cam: int) -> np.ndarray:
        """(3, 4) matrix ``P_rect_0c @ R_rect_00 @ Tr_velo_to_cam``."""
        if self.velo_to_cam is None:
            raise ValueError(f"no {VELO_TO_CAM}: velodyne ground truth needs it")
        r0 = np.eye(4)
        r0[:3, :3] = self.r_rect
        return self.p_rect[cam] @ r0 @ self.velo_to_cam


def load_calib(date_dir: str | Path, cams: tuple[int, ...] = (2, 3)) -> KittiCalib:
    """Calibration of one recording date directory (``.../2011_09_26``)."""
    date_dir = Path(date_dir)
    c2c_path = date_dir / CAM_TO_CAM
    c2c = read_calib_file(c2c_path)
    p_rect = {c: _get(c2c, f"P_rect_0{c}", 12, c2c_path).reshape(3, 4) for c in cams}
    sizes = {}
    for c in cams:
        if f"S_rect_0{c}" in c2c:
            w, h = _get(c2c, f"S_rect_0{c}", 2, c2c_path)
            sizes[c] = (int(round(h)), int(round(w)))
    r_rect = _get(c2c, "R_rect_00", 9, c2c_path).reshape(3, 3)
    velo = None
    v2c_path = date_dir / VELO_TO_CAM
    if v2c_path.is_file():
        v2c = read_calib_file(v2c_path)
        velo = np.eye(4)
        velo[:3, :3] = _get(v2c, "R", 9, v2c_path).reshape(3, 3)
        velo[:3, 3] = _get(v2c, "T", 3, v2c_path)
    return KittiCalib(p_rect=p_rect, r_rect=r_rect, velo_to_cam=velo, image_size=sizes)


def read_velodyne(path: str | Path) -> np.ndarray:
    """A velodyne scan as (N, 4) float32 (x, y, z, reflectance)."""
    path = Path(path)
    raw = np.fromfile(path, dtype=np.float32)
    if raw.size % 4:
        raise ValueError(f"{path}: size {raw.size * 4} bytes is not a multiple of 16 "
                         "(float32 x, y, z, reflectance)")
    return raw.reshape(-1, 4)


def project_velodyne(points: np.ndarray, velo_to_image: np.ndarray, shape: tuple[int, int],
                     pixel_offset: int = -1) -> np.ndarray:
    """Sparse depth map (h, w) float32 of ``points`` (N, >=3) in the velodyne frame.

    See the module docstring for the convention; ``pixel_offset`` is added to the rounded
    pixel coordinates (-1 reproduces the published Eigen-split ground truth).
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] < 3:
        raise ValueError(f"points must be (N, 3) or (N, 4), got {pts.shape}")
    h, w = shape
    pts = pts[pts[:, 0] >= 0, :3]  # in front of the scanner
    hom = np.concatenate([pts, np.ones((len(pts), 1))], axis=1)
    proj = hom @ np.asarray(velo_to_image, dtype=np.float64).T
    z = proj[:, 2]
    front = z > 0
    proj, z = proj[front], z[front]
    col = np.round(proj[:, 0] / z).astype(np.int64) + pixel_offset
    row = np.round(proj[:, 1] / z).astype(np.int64) + pixel_offset
    inside = (col >= 0) & (row >= 0) & (col < w) & (row < h)
    flat, z = row[inside] * w + col[inside], z[inside]
    order = np.lexsort((z, flat))  # by pixel, nearest first
    flat, z = flat[order], z[order]
    first = np.ones(len(flat), dtype=bool)
    first[1:] = flat[1:] != flat[:-1]
    depth = np.zeros(h * w, dtype=np.float32)
    depth[flat[first]] = z[first]
    return depth.reshape(h, w)
