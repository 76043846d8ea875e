"""Rigid transforms from ``/tf_static`` and pinhole projection of LiDAR points (numpy only).

Frame chain used to turn a LiDAR cloud into a depth map of the camera::

    p_lidar  --T_cam_lidar-->  p_cam  --R (CameraInfo.R)-->  p_rect  --P (CameraInfo.P)-->  (u, v)

- ``T_cam_lidar`` comes from the static TF tree: each ``geometry_msgs/TransformStamped`` with
  ``header.frame_id = parent`` and ``child_frame_id = child`` maps child coordinates into the
  parent, ``p_parent = R(q) p_child + t``. :class:`TfTree` walks the tree between the cloud's
  ``header.frame_id`` and the image's (up to the common ancestor, inverting edges on the way).
- ``p_cam`` is in the camera's optical frame (x right, y down, z forward, REP 103/105).
- ``R`` rotates into the rectified frame and ``P`` (3x4) projects it; the depth of a point is
  its ``z`` in the rectified frame. A pixel ``(u, v)`` covers ``[u - 0.5, u + 0.5)``: pixel
  centres sit at integer coordinates, as in ``geometry.backproject``.
- When several points land on one pixel the nearest wins (a z-buffer).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

import numpy as np


def quaternion_to_matrix(x: float, y: float, z: float, w: float) -> np.ndarray:
    """3x3 rotation matrix of the quaternion ``(x, y, z, w)`` (normalised first)."""
    q = np.array([x, y, z, w], dtype=np.float64)
    norm = float(np.linalg.norm(q))
    if not np.isfinite(norm) or norm < 1e-9:
        raise ValueError(f"quaternion {tuple(q)} has no usable norm")
    x, y, z, w = q / norm
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def matrix_to_quaternion(rotation: np.ndarray) -> tuple[float, float, float, float]:
    """``(x, y, z, w)`` with ``w >= 0`` of a 3x3 rotation matrix (Shepperd's method)."""
    m = np.asarray(rotation, dtype=np.float64)
    if m.shape != (3, 3) or not np.allclose(m @ m.T, np.eye(3), atol=1e-6):
        raise ValueError("rotation must be an orthonormal 3x3 matrix")
    trace = float(np.trace(m))
    if trace > 0:
        s = 2.0 * np.sqrt(trace + 1.0)
        q = [(m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, s / 4]
    else:
        i = int(np.argmax(np.diag(m)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * np.sqrt(1.0 + m[i, i] - m[j, j] - m[k, k])
        q = [0.0, 0.0, 0.0, (m[k, j] - m[j, k]) / s]
        q[i] = s / 4
        q[j] = (m[j, i] + m[i, j]) / s
        q[k] = (m[k, i] + m[i, k]) / s
    q = np.asarray(q)
    q = q if q[3] >= 0 else -q
    return tuple(float(v) for v in q / np.linalg.norm(q))  # type: ignore[return-value]


def make_transform(rotation: np.ndarray, translation: Iterable[float]) -> np.ndarray:
    """4x4 homogeneous transform from a 3x3 rotation and a translation."""
    t = np.eye(4)
    t[:3, :3] = np.asarray(rotation, dtype=np.float64)
    t[:3, 3] = np.asarray(list(translation), dtype=np.float64)
    return t


def invert_transform(t: np.ndarray) -> np.ndarray:
    """Inverse of a rigid 4x4 transform (``R^T``, ``-R^T t``)."""
    r = t[:3, :3]
    return make_transform(r.T, -r.T @ t[:3, 3])


def transform_points(t: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 4x4 transform to ``(N, 3)`` points."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    return pts @ t[:3, :3].T + t[:3, 3]


def euler_matrix(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """``Rz(yaw) @ Ry(pitch) @ Rx(roll)`` (radians; the ROS RPY convention)."""
    cr, sr, cp, sp, cy, sy = (np.cos(roll), np.sin(roll), np.cos(pitch), np.sin(pitch),
                              np.cos(yaw), np.sin(yaw))
    rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    return rz @ ry @ rx


class TfTree:
    """Static transforms between named frames; :meth:`lookup` chains them."""

    def __init__(self) -> None:
        self._edges: dict[str, dict[str, np.ndarray]] = {}

    @property
    def frames(self) -> list[str]:
        """Every frame named by a transform, sorted."""
        return sorted(self._edges)

    def add(self, parent: str, child: str, parent_from_child: np.ndarray) -> None:
        """Add ``T_parent_child`` (maps child coordinates into the parent frame)."""
        parent, child = parent.lstrip("/"), child.lstrip("/")
        if not parent or not child or parent == child:
            raise ValueError(f"bad transform {parent!r} -> {child!r}")
        t = np.asarray(parent_from_child, dtype=np.float64)
        self._edges.setdefault(parent, {})[child] = t
        self._edges.setdefault(child, {})[parent] = invert_transform(t)

    def add_message(self, tf_message: object) -> int:
        """Add every transform of a ``tf2_msgs/TFMessage``; returns how many."""
        n = 0
        for ts in tf_message.transforms:  # type: ignore[attr-defined]
            tr, rot = ts.transform.translation, ts.transform.rotation
            r = quaternion_to_matrix(rot.x, rot.y, rot.z, rot.w)
            self.add(ts.header.frame_id, ts.child_frame_id,
                     make_transform(r, (tr.x, tr.y, tr.z)))
            n += 1
        return n

    def lookup(self, target: str, source: str) -> np.ndarray:
        """``T_target_source``: maps points given in ``source`` into ``target``."""
        target, source = target.lstrip("/"), source.lstrip("/")
        if target == source:
            return np.eye(4)
        for name in (target, source):
            if name not in self._edges:
                known = ", ".join(self.frames) or "none"
                raise ValueError(f"frame {name!r} is not in /tf_static (frames: {known})")
        # breadth-first search from source; chain target <- ... <- source
        previous: dict[str, str | None] = {source: None}
        queue = deque([source])
        while queue:
            frame = queue.popleft()
            if frame == target:
                break
            for nxt in self._edges[frame]:
                if nxt not in previous:
                    previous[nxt] = frame
                    queue.append(nxt)
        if target not in previous:
            raise ValueError(f"/tf_static has no chain of transforms from {source!r} to "
                             f"{target!r} (frames: {', '.join(self.frames)})")
        t = np.eye(4)
        frame = target
        while previous[frame] is not None:
            parent_step = previous[frame]
            assert parent_step is not None
            # edge frame <- parent_step
            t = t @ self._edges[frame][parent_step]
            frame = parent_step
        return t


def projection_matrix(p: Iterable[float], r: Iterable[float] | None = None) -> np.ndarray:
    """3x4 ``P @ [[R, 0], [0, 1]]`` from CameraInfo's ``p`` (12) and ``r`` (9, optional)."""
    pm = np.asarray(list(p), dtype=np.float64).reshape(3, 4)
    if r is not None:
        rm = np.asarray(list(r), dtype=np.float64).reshape(3, 3)
        if np.any(rm):  # an all-zero R means "not set"
            pm = pm @ make_transform(rm, (0.0, 0.0, 0.0))
    return pm


def project_points(points: np.ndarray, projection: np.ndarray, hw: tuple[int, int],
                   min_depth: float = 1e-3) -> np.ndarray:
    """Sparse depth map ``(H, W)`` float32 (0 = none) of camera-frame ``(N, 3)`` points.

    ``projection`` is a 3x4 matrix (see :func:`projection_matrix`); the depth is the third
    homogeneous coordinate (``z`` of the rectified frame). Points behind ``min_depth``, outside
    the image or not finite are dropped; on shared pixels the nearest point wins.
    """
    h, w = hw
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    pm = np.asarray(projection, dtype=np.float64)
    if pm.shape != (3, 4):
        raise ValueError(f"projection must be 3x4, got {pm.shape}")
    uvw = pts @ pm[:, :3].T + pm[:, 3]
    z = uvw[:, 2]
    with np.errstate(invalid="ignore", divide="ignore"):
        ok = np.isfinite(uvw).all(axis=1) & (z > min_depth)
        u = np.floor(uvw[ok, 0] / z[ok] + 0.5).astype(np.int64)
        v = np.floor(uvw[ok, 1] / z[ok] + 0.5).astype(np.int64)
    z = z[ok]
    inside = (u >= 0) & (u < w) & (v >= 0) & (v < h)
    depth = np.full(h * w, np.inf)
    np.minimum.at(depth, v[inside] * w + u[inside], z[inside])
    depth[~np.isfinite(depth)] = 0.0
    return depth.reshape(h, w).astype(np.float32)
