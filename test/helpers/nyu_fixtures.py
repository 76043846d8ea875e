"""Tiny NYU Depth v2 data in the real formats: the labeled MATLAB v7.3 (HDF5) file with its
transposed arrays and ``splits.mat``, and the extracted rgb / sync_depth folder layout."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

H, W = 480, 640


def frame(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Image (480, 640, 3) uint8 and depth (480, 640) float32 metres (1..4.5 m) of frame k."""
    r, c = np.mgrid[0:H, 0:W]
    img = np.stack([(r + 2 * c + 50 * ch + 7 * k) % 256 for ch in range(3)], -1).astype(np.uint8)
    depth = (1.0 + 3.0 * r / H + 0.5 * c / W + 0.01 * k).astype(np.float32)
    return img, depth


def write_labeled_mat(path: Path, frames: int) -> None:
    """``nyu_depth_v2_labeled.mat`` as MATLAB 7.3 writes it: an HDF5 file behind a 512-byte
    user block with the MAT header, arrays stored column-major (so transposed for HDF5)."""
    import h5py

    imgs = np.stack([frame(k)[0] for k in range(frames)])
    depths = np.stack([frame(k)[1] for k in range(frames)])
    with h5py.File(path, "w", userblock_size=512) as f:
        f.create_dataset("images", data=imgs.transpose(0, 3, 2, 1))  # (N, 3, 640, 480)
        f.create_dataset("depths", data=depths.transpose(0, 2, 1))  # (N, 640, 480)
        f["images"].attrs["MATLAB_class"] = np.bytes_("uint8")
        f["depths"].attrs["MATLAB_class"] = np.bytes_("single")
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 " \
             b"HDF5 schema 1.00 ."
    block = header.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM"
    with open(path, "r+b") as fh:
        fh.write(block.ljust(512, b"\x00"))


def write_splits_mat(path: Path, train: list[int], test: list[int]) -> None:
    """``splits.mat`` (MATLAB v5) with 1-based ``trainNdxs`` / ``testNdxs`` columns."""
    from scipy.io import savemat

    savemat(path, {"trainNdxs": np.array(train, dtype=np.float64)[:, None],
                   "testNdxs": np.array(test, dtype=np.float64)[:, None]})


def write_folder(root: Path, layout: dict[str, list[int]]) -> None:
    """``root/<sub>/rgb_%05d.jpg`` + ``sync_depth_%05d.png`` (uint16 mm) per frame."""
    for sub, ks in layout.items():
        folder = root / sub
        folder.mkdir(parents=True, exist_ok=True)
        for k in ks:
            img, depth = frame(k)
            cv2.imwrite(str(folder / f"rgb_{k:05d}.jpg"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
            cv2.imwrite(str(folder / f"sync_depth_{k:05d}.png"),
                        np.round(depth * 1000).astype(np.uint16))
