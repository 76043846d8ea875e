"""PLY point-cloud writer (binary little-endian or ASCII; numpy only)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def write_ply(
    path: str | os.PathLike,
    points: np.ndarray,
    colors: np.ndarray | None = None,
    binary: bool = True,
) -> Path:
    """Write ``points (N, 3)`` (float32 x y z) and optional ``colors (N, 3)`` uint8 RGB as PLY.

    Rows with any non-finite coordinate are dropped. Binary output is ``binary_little_endian
    1.0``; ``binary=False`` writes ASCII. Returns the path written.
    """
    points = np.asarray(points)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"points must be (N, 3), got shape {points.shape}")
    if colors is not None:
        colors = np.asarray(colors)
        if colors.shape != points.shape:
            raise ValueError(
                f"colors must be (N, 3) like points {points.shape}, got {colors.shape}"
            )
        if colors.dtype != np.uint8:
            raise ValueError(f"colors must be uint8 RGB, got {colors.dtype}")
    keep = np.all(np.isfinite(points), axis=1)
    points = points[keep].astype("<f4")
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    if colors is not None:
        colors = colors[keep]
        fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
    rows = np.empty(len(points), dtype=fields)
    rows["x"], rows["y"], rows["z"] = points[:, 0], points[:, 1], points[:, 2]
    if colors is not None:
        rows["red"], rows["green"], rows["blue"] = colors[:, 0], colors[:, 1], colors[:, 2]

    ply_types = {"<f4": "float", "u1": "uchar"}
    header = ["ply", f"format {'binary_little_endian' if binary else 'ascii'} 1.0",
              "comment written by iid_rdepth_ros", f"element vertex {len(rows)}"]
    header += [f"property {ply_types[t]} {name}" for name, t in fields]
    header.append("end_header")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(("\n".join(header) + "\n").encode("ascii"))
        if binary:
            f.write(rows.tobytes())
        else:
            columns = [points.astype(np.float64)]
            fmt = ["%.9g"] * 3
            if colors is not None:
                columns.append(colors.astype(np.float64))
                fmt += ["%d"] * 3
            table = np.column_stack(columns)
            np.savetxt(f, table, fmt=" ".join(fmt))
    return path
