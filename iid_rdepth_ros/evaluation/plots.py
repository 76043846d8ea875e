"""PNG figures for evaluation and the demo (matplotlib, Agg, no pyplot state).

Depth panels use the fixed inverse-depth colormap of ``geometry.colormap`` (never per-frame
min-max), error panels a fixed AbsRel range, so figures from different runs compare by eye.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from iid_rdepth_ros.evaluation.metrics import abs_rel_map
from iid_rdepth_ros.geometry.colormap import (
    DEFAULT_DEPTH_CMAP,
    DEFAULT_ERROR_CMAP,
    colorize_depth,
    colorize_error,
    depth_to_unit,
)


def _figure(width_in: float, height_in: float):  # -> matplotlib.figure.Figure
    from matplotlib.figure import Figure

    return Figure(figsize=(width_in, height_in), dpi=100, layout="constrained")


def _depth_colorbar(fig, ax, min_depth: float, max_depth: float, cmap: str,
                    scale: str) -> None:
    """Colorbar labelled in metres for the fixed depth mapping."""
    from matplotlib import colors
    from matplotlib.cm import ScalarMappable

    sm = ScalarMappable(norm=colors.Normalize(0.0, 1.0), cmap=cmap)
    ticks = [d for d in (1, 2, 5, 10, 20, 40, 80) if min_depth <= d <= max_depth]
    where = depth_to_unit(np.asarray(ticks, dtype=np.float64)[None], min_depth, max_depth,
                          scale)[0]
    bar = fig.colorbar(sm, ax=ax, fraction=0.05, pad=0.01, ticks=list(where))
    bar.ax.set_yticklabels([f"{d:g} m" for d in ticks])


def _error_colorbar(fig, ax, max_error: float, cmap: str) -> None:
    from matplotlib import colors
    from matplotlib.cm import ScalarMappable

    sm = ScalarMappable(norm=colors.Normalize(0.0, max_error), cmap=cmap)
    fig.colorbar(sm, ax=ax, fraction=0.05, pad=0.01, label="AbsRel")


def _save(fig: Any, path: str | Path, title: str | None) -> Path:
    """Title the figure (if given) and write it to ``path`` (parent folders created)."""
    if title:
        fig.suptitle(title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def save_overview(path: str | Path, image: np.ndarray, gt: np.ndarray,
                  predictions: Mapping[str, np.ndarray], min_depth: float = 1.0,
                  max_depth: float = 80.0, max_error: float = 0.3,
                  cmap: str = DEFAULT_DEPTH_CMAP, error_cmap: str = DEFAULT_ERROR_CMAP,
                  title: str | None = None, scale: str = "log",
                  gt_label: str = "ground truth (dense)") -> Path:
    """One frame: image + ground truth on top, then a row per method (depth | AbsRel error).

    ``predictions`` maps a method name to depth (H, W) in metres (NaN = no depth); ``gt_label``
    titles the ground-truth panel (say what it is: dense, LiDAR, ...).
    """
    rows = 1 + len(predictions)
    h, w = gt.shape
    panel_w = 4.5
    fig = _figure(2 * panel_w + 1.6, rows * (panel_w * h / w + 0.45) + 0.5)
    axes = fig.subplots(rows, 2, squeeze=False)
    axes[0, 0].imshow(image)
    axes[0, 0].set_title("left image")
    axes[0, 1].imshow(colorize_depth(np.where(gt > 0, gt, np.nan), min_depth, max_depth, cmap,
                                      scale=scale))
    axes[0, 1].set_title(gt_label)
    _depth_colorbar(fig, axes[0, 1], min_depth, max_depth, cmap, scale)
    for r, (name, depth) in enumerate(predictions.items(), start=1):
        axes[r, 0].imshow(colorize_depth(depth, min_depth, max_depth, cmap, scale=scale))
        axes[r, 0].set_title(f"{name}: depth")
        err = abs_rel_map(depth, gt, max_depth=max_depth)
        axes[r, 1].imshow(colorize_error(err, max_error, error_cmap))
        axes[r, 1].set_title(f"{name}: AbsRel error (mean {np.nanmean(err):.3f})")
        _error_colorbar(fig, axes[r, 1], max_error, error_cmap)
    for ax in axes.flat:
        ax.set_axis_off()
    return _save(fig, path, title)


def save_per_frame_plot(path: str | Path, per_frame: Mapping[str, Sequence[Mapping[str, float]]],
                        keys: Sequence[str] = ("abs_rel", "rmse"),
                        title: str | None = None) -> Path:
    """Per-frame curves of ``keys`` (one panel each), one line per method."""
    from matplotlib.ticker import MaxNLocator

    fig = _figure(8.0, 2.6 * len(keys))
    axes = fig.subplots(len(keys), 1, squeeze=False)[:, 0]
    for ax, key in zip(axes, keys, strict=True):
        for name, frames in per_frame.items():
            ax.plot([f["index"] for f in frames], [f[key] for f in frames], marker="o",
                    markersize=3, label=name)
        ax.set_ylabel(key)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
    axes[-1].set_xlabel("frame")
    axes[0].legend(loc="best", fontsize="small")
    return _save(fig, path, title)
