"""Tiny KITTI raw-data trees in the exact on-disk layout and file formats, for the tests.

Calibration text uses the format (and the 2011_09_26 values) of KITTI's
``calib_cam_to_cam.txt`` / ``calib_velo_to_cam.txt``; images are 8-bit PNGs, annotated depth
uint16 PNGs (metres * 256), velodyne scans float32 x, y, z, reflectance ``.bin`` files.
The scene's true depth for camera 2 / 3 is known, so loaders can be checked against it.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

DATE = "2011_09_26"
P_RECT = {
    0: [721.5377, 0, 609.5593, 0, 0, 721.5377, 172.854, 0, 0, 0, 1, 0],
    1: [721.5377, 0, 609.5593, -387.5744, 0, 721.5377, 172.854, 0, 0, 0, 1, 0],
    2: [721.5377, 0, 609.5593, 44.85728, 0, 721.5377, 172.854, 0.2163791, 0, 0, 1,
        0.002745884],
    3: [721.5377, 0, 609.5593, -339.5242, 0, 721.5377, 172.854, 2.199936, 0, 0, 1,
        0.002729905],
}
R_RECT_00 = [0.9999239, 0.00983776, -0.007445048, -0.009869795, 0.9999421, -0.004278459,
             0.007402527, 0.004351614, 0.9999631]
VELO_R = [0.007533745, -0.9999714, -0.0006166020, 0.01480249, 0.0007280733, -0.9998902,
          0.9998621, 0.007523790, 0.01480755]
VELO_T = [-0.004069766, -0.07631618, -0.2717806]
DISTORTION = [-0.3728755, 0.2037299, 0.002219027, 0.001383707, -0.07233722]
#: (P_rect_02[0,3] - P_rect_03[0,3]) / fx, worked out by hand
BASELINE = (44.85728 + 339.5242) / 721.5377


def _fmt(values: list[float]) -> str:
    return " ".join(f"{v:.6e}" for v in values)


def write_calib(date_dir: Path, width: int = 1242, height: int = 375) -> None:
    """KITTI's two calibration files, text format as distributed."""
    date_dir.mkdir(parents=True, exist_ok=True)
    lines = ["calib_time: 09-Jan-2012 13:57:47", "corner_dist: 9.950000e-02"]
    for c in range(4):
        lines += [f"S_0{c}: {_fmt([1392, 512])}",
                  f"K_0{c}: {_fmt([984.2439, 0, 690, 0, 980.8141, 233.1966, 0, 0, 1])}",
                  f"D_0{c}: {_fmt(DISTORTION)}",
                  f"R_0{c}: {_fmt([1, 0, 0, 0, 1, 0, 0, 0, 1])}",
                  f"T_0{c}: {_fmt([0.0, 0.0, 0.0])}",
                  f"S_rect_0{c}: {_fmt([width, height])}",
                  f"R_rect_0{c}: {_fmt(R_RECT_00)}",
                  f"P_rect_0{c}: {_fmt(P_RECT[c])}"]
    (date_dir / "calib_cam_to_cam.txt").write_text("\n".join(lines) + "\n")
    (date_dir / "calib_velo_to_cam.txt").write_text(
        "calib_time: 15-Mar-2012 11:37:16\n"
        f"R: {_fmt(VELO_R)}\nT: {_fmt(VELO_T)}\n"
        "delta_f: 0.000000e+00 0.000000e+00\ndelta_c: 0.000000e+00 0.000000e+00\n")


def true_depth(cam: int, height: int, width: int, frame: int) -> np.ndarray:
    """The fixture scene's depth (m) seen by camera ``cam``: a tilted plane, 4..60 m."""
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float64)
    d = 4.0 + 50.0 * (1.0 - rows / height) + 6.0 * cols / width + 0.5 * frame + (cam - 2)
    return d.astype(np.float64)


def image(cam: int, height: int, width: int, frame: int) -> np.ndarray:
    """A recognisable RGB image of camera ``cam`` (red channel = 40 * cam + frame)."""
    img = np.zeros((height, width, 3), np.uint8)
    img[..., 0] = 40 * cam + frame
    img[..., 1] = (np.arange(width) % 256)[None, :]
    img[..., 2] = (np.arange(height) % 256)[:, None]
    return img


def gt_mask(height: int, width: int, frame: int, cam: int) -> np.ndarray:
    """Which pixels have annotated ground truth (a sparse, frame-dependent pattern)."""
    rng = np.random.default_rng(1000 * frame + cam)
    return rng.random((height, width)) < 0.2


def velodyne_points(cam: int, depth: np.ndarray, step: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Velodyne-frame points (N, 4) float32 that project onto every ``step``-th pixel of
    camera ``cam`` with projected depth ``depth[r, c]``, and the expected sparse map."""
    h, w = depth.shape
    p = np.array(P_RECT[cam], dtype=np.float64).reshape(3, 4)
    r0 = np.eye(4)
    r0[:3, :3] = np.array(R_RECT_00).reshape(3, 3)
    tr = np.eye(4)
    tr[:3, :3] = np.array(VELO_R).reshape(3, 3)
    tr[:3, 3] = VELO_T
    rows, cols = np.mgrid[0:h:step, 0:w:step]
    rows, cols = rows.ravel(), cols.ravel()
    wz = depth[rows, cols]
    u, v = cols + 1.0, rows + 1.0  # the projection rounds, then subtracts 1
    z = wz - p[2, 3]
    x = (u * wz - p[0, 2] * z - p[0, 3]) / p[0, 0]
    y = (v * wz - p[1, 2] * z - p[1, 3]) / p[1, 1]
    rect = np.stack([x, y, z, np.ones_like(z)])
    velo = np.linalg.inv(r0 @ tr) @ rect
    pts = np.concatenate([velo[:3].T, np.full((len(z), 1), 0.5)], axis=1).astype(np.float32)
    expected = np.zeros((h, w), np.float32)
    expected[rows, cols] = wz
    # points behind the scanner (x < 0) must be dropped
    behind = pts[:50].copy()
    behind[:, 0] = -np.abs(behind[:, 0]) - 1.0
    return np.concatenate([pts, behind]), expected


def make_kitti(root: Path, frames: dict[str, list[int]], height: int = 375,
               width: int = 1242, annotated: bool = True, velodyne: bool = True,
               gt_layout: str = "raw") -> dict[tuple[str, int, int], dict[str, np.ndarray]]:
    """Write drives ``{drive_number: [frames]}`` of date 2011_09_26 under ``root``.

    ``gt_layout``: ``raw`` puts proj_depth inside the raw drive folder, ``release`` under
    ``root/gt/train/DRIVE`` (the depth release's own layout). Returns, per (drive, frame,
    camera), the ``image``, annotated ``gt`` (as stored, metres) and ``velodyne`` (expected
    projected map) arrays.
    """
    write_calib(root / DATE, width, height)
    truth: dict[tuple[str, int, int], dict[str, np.ndarray]] = {}
    for number, frame_ids in frames.items():
        drive = f"{DATE}_drive_{number}_sync"
        base = root / DATE / drive
        for f in frame_ids:
            name = f"{f:010d}"
            for cam in (2, 3):
                img = image(cam, height, width, f)
                folder = base / f"image_0{cam}" / "data"
                folder.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(folder / f"{name}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
                entry = {"image": img}
                depth = true_depth(cam, height, width, f)
                if annotated:
                    q = np.where(gt_mask(height, width, f, cam),
                                 np.round(depth * 256.0), 0).astype(np.uint16)
                    gt_base = base if gt_layout == "raw" else root / "gt" / "train" / drive
                    gdir = gt_base / "proj_depth" / "groundtruth" / f"image_0{cam}"
                    gdir.mkdir(parents=True, exist_ok=True)
                    cv2.imwrite(str(gdir / f"{name}.png"), q)
                    entry["gt"] = q.astype(np.float32) / 256.0
                if velodyne and cam == 2:
                    pts, expected = velodyne_points(2, depth)
                    vdir = base / "velodyne_points" / "data"
                    vdir.mkdir(parents=True, exist_ok=True)
                    pts.tofile(vdir / f"{name}.bin")
                    entry["velodyne"] = expected
                truth[(number, f, cam)] = entry
    return truth


def split_lines(frames: dict[str, list[int]], side: str = "l") -> str:
    """A split file in the 'DATE/DRIVE FRAME SIDE' format."""
    return "".join(f"{DATE}/{DATE}_drive_{n}_sync {f:010d} {side}\n"
                   for n, ids in frames.items() for f in ids)
