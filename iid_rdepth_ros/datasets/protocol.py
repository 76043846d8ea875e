"""Evaluation crops of the standard depth benchmarks (numpy only).

- **Garg crop** (KITTI, Garg et al. ECCV 2016): rows ``int(0.40810811 H) .. int(0.99189189 H)``,
  columns ``int(0.03594771 W) .. int(0.96405229 W)`` of the full-size ground truth
  (``metrics.garg_crop_mask``; 153:371, 44:1197 at 375x1242).
- **Eigen crop** (NYU Depth v2, Eigen et al. 2014): rows 45:471, columns 41:601 of the
  480x640 frame (the white border the Kinect registration leaves is outside it).
- **KB crop** (KITTI benchmark size): the 352x1216 window at the bottom of the image, centred
  horizontally (top = H - 352, left = (W - 1216) // 2). It is applied to the *inputs* (images,
  ground truth, principal point); an evaluation crop is computed on the full frame first and then
  cut with the same window, as the supervised KITTI literature does.

All ranges are end-exclusive.
"""

from __future__ import annotations

import numpy as np

from iid_rdepth_ros.evaluation.metrics import garg_crop_mask

CROPS = ("garg", "eigen", "none")
NYU_SHAPE = (480, 640)
EIGEN_ROWS = (45, 471)
EIGEN_COLS = (41, 601)
KB_HEIGHT = 352
KB_WIDTH = 1216


def eigen_crop_mask(shape: tuple[int, ...]) -> np.ndarray:
    """Boolean mask of the NYU Eigen crop; ``shape`` must end in (480, 640)."""
    if len(shape) < 2 or tuple(shape[-2:]) != NYU_SHAPE:
        raise ValueError(f"the NYU Eigen crop is defined at 480x640, got shape {tuple(shape)}")
    mask = np.zeros(NYU_SHAPE, dtype=bool)
    mask[EIGEN_ROWS[0]:EIGEN_ROWS[1], EIGEN_COLS[0]:EIGEN_COLS[1]] = True
    return np.broadcast_to(mask, tuple(shape))


def crop_mask(name: str, shape: tuple[int, ...]) -> np.ndarray | None:
    """Mask of the evaluation crop ``name`` (garg | eigen | none -> None)."""
    if name == "garg":
        return np.array(garg_crop_mask(shape))
    if name == "eigen":
        return np.array(eigen_crop_mask(shape))
    if name == "none":
        return None
    raise ValueError(f"unknown evaluation crop {name!r}; choose one of {CROPS}")


def kb_crop_box(height: int, width: int) -> tuple[int, int, int, int]:
    """``(top, left, 352, 1216)`` of the KB crop of an ``height`` x ``width`` image."""
    if height < KB_HEIGHT or width < KB_WIDTH:
        raise ValueError(f"the KB crop needs images of at least {KB_HEIGHT}x{KB_WIDTH}, "
                         f"got {height}x{width}")
    return height - KB_HEIGHT, (width - KB_WIDTH) // 2, KB_HEIGHT, KB_WIDTH


def apply_box(array: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """``array[top:top+h, left:left+w]`` (leading two dims), contiguous."""
    top, left, h, w = box
    return np.ascontiguousarray(array[top:top + h, left:left + w])
