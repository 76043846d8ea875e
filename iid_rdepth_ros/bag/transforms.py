"""Rigid transforms from ``/tf_static`` and pinhole projection of LiDAR points (numpy only).

Frame chain used to turn a LiDAR cloud into a depth map of the camera::

    p_lidar  --T_cam_lidar-->  p_cam  --R (CameraInfo.R)-->  p_rect  --P (CameraInfo.P)-->  (u, v)

- ``T_cam_lidar`` comes from the TF tree: each ``geometry_msgs/TransformStamped`` with
  ``header.frame_id = parent`` and ``child_frame_id = child`` maps child coordinates into the
  parent, ``p_parent = R(q) p_child + t``. :class:`TfTree` walks the tree between the cloud's
  ``header.frame_id`` and the image's (up to the common ancestor, inverting edges on the way).
  Static edges come from ``/tf_static``. Where those do not connect the two frames, edges
  recorded on ``/tf`` are added (:meth:`TfTree.add_message` with ``dynamic=True``); such an
  edge is evaluated at the stamp of the lookup (the image's): linear interpolation of the
  translation and spherical interpolation of the rotation between the two recorded samples
  around it, or the nearest sample within ``tolerance`` at either end. A lookup at a stamp the
  recording of an edge does not cover raises :class:`TransformTimeError`. Ego-motion between
  the cloud's and the image's stamps is not compensated: the cloud is used as measured.
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


class TransformError(ValueError):
    """A frame or a chain of transforms is not in the recording."""


class TransformTimeError(TransformError):
    """A ``/tf`` edge of the chain has no sample near the stamp asked for."""


def slerp(q0: np.ndarray, q1: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation of unit quaternions ``(x, y, z, w)`` at ``t`` in [0, 1]."""
    q0, q1 = np.asarray(q0, dtype=np.float64), np.asarray(q1, dtype=np.float64)
    dot = float(np.dot(q0, q1))
    if dot < 0.0:  # the shorter way round
        q1, dot = -q1, -dot
    if dot > 0.9995:  # nearly parallel: linear is exact enough and stable
        q = q0 + t * (q1 - q0)
        return q / np.linalg.norm(q)
    theta = np.arccos(min(dot, 1.0))
    return (np.sin((1 - t) * theta) * q0 + np.sin(t * theta) * q1) / np.sin(theta)


class _DynamicEdge:
    """Samples of one ``/tf`` edge ``T_parent_child`` over time."""

    def __init__(self) -> None:
        self._stamps: list[int] = []
        self._poses: list[tuple[float, ...]] = []  # tx, ty, tz, qx, qy, qz, qw
        self._sorted: tuple[np.ndarray, np.ndarray] | None = None

    def add(self, stamp_ns: int, translation: Iterable[float],
            quaternion: Iterable[float]) -> None:
        q = np.asarray(list(quaternion), dtype=np.float64)
        norm = float(np.linalg.norm(q))
        if not np.isfinite(norm) or norm < 1e-9:
            raise ValueError(f"quaternion {tuple(q)} has no usable norm")
        self._stamps.append(int(stamp_ns))
        self._poses.append((*(float(v) for v in translation), *(q / norm)))
        self._sorted = None

    def _arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if self._sorted is None:
            stamps = np.asarray(self._stamps, dtype=np.int64)
            order = np.argsort(stamps, kind="stable")
            self._sorted = (stamps[order], np.asarray(self._poses)[order])
        return self._sorted

    def at(self, stamp_ns: int, tolerance_ns: int) -> np.ndarray | None:
        """``T_parent_child`` at ``stamp_ns`` (see module docstring), None if not covered."""
        stamps, poses = self._arrays()
        i = int(np.searchsorted(stamps, stamp_ns))
        if 0 < i < len(stamps):
            t0, t1 = int(stamps[i - 1]), int(stamps[i])
            a = 0.0 if t1 == t0 else (stamp_ns - t0) / (t1 - t0)
            trans = (1 - a) * poses[i - 1, :3] + a * poses[i, :3]
            quat = slerp(poses[i - 1, 3:], poses[i, 3:], a)
        else:
            j = 0 if i == 0 else len(stamps) - 1
            if abs(int(stamps[j]) - stamp_ns) > tolerance_ns:
                return None
            trans, quat = poses[j, :3], poses[j, 3:]
        return make_transform(quaternion_to_matrix(*quat), trans)

    def span(self) -> tuple[float, float]:
        stamps, _ = self._arrays()
        return int(stamps[0]) / 1e9, int(stamps[-1]) / 1e9


class TfTree:
    """Transforms between named frames: static ones, and where those do not connect two
    frames, ``/tf`` ones evaluated at a stamp; :meth:`lookup` chains them."""

    def __init__(self, tolerance: float = 0.1) -> None:
        self._edges: dict[str, dict[str, np.ndarray]] = {}
        self._dynamic: dict[tuple[str, str], _DynamicEdge] = {}
        self.tolerance_ns = int(round(tolerance * 1e9))

    @property
    def frames(self) -> list[str]:
        """Every frame named by a transform, sorted."""
        names = set(self._edges)
        for parent, child in self._dynamic:
            names |= {parent, child}
        return sorted(names)

    @property
    def has_dynamic(self) -> bool:
        """Whether any ``/tf`` edge was added."""
        return bool(self._dynamic)

    def add(self, parent: str, child: str, parent_from_child: np.ndarray) -> None:
        """Add ``T_parent_child`` (maps child coordinates into the parent frame)."""
        parent, child = parent.lstrip("/"), child.lstrip("/")
        if not parent or not child or parent == child:
            raise ValueError(f"bad transform {parent!r} -> {child!r}")
        t = np.asarray(parent_from_child, dtype=np.float64)
        self._edges.setdefault(parent, {})[child] = t
        self._edges.setdefault(child, {})[parent] = invert_transform(t)

    def add_dynamic(self, parent: str, child: str, stamp_ns: int,
                    translation: Iterable[float], quaternion: Iterable[float]) -> None:
        """Add one ``/tf`` sample of ``T_parent_child`` at ``stamp_ns``."""
        parent, child = parent.lstrip("/"), child.lstrip("/")
        if not parent or not child or parent == child:
            raise ValueError(f"bad transform {parent!r} -> {child!r}")
        self._dynamic.setdefault((parent, child), _DynamicEdge()).add(
            stamp_ns, translation, quaternion)

    def add_message(self, tf_message: object, dynamic: bool = False) -> int:
        """Add every transform of a ``tf2_msgs/TFMessage`` (static, or ``/tf`` samples at
        their header stamps with ``dynamic``); returns how many."""
        n = 0
        for ts in tf_message.transforms:  # type: ignore[attr-defined]
            tr, rot = ts.transform.translation, ts.transform.rotation
            if dynamic:
                stamp = int(ts.header.stamp.sec) * 1_000_000_000 + int(ts.header.stamp.nanosec)
                self.add_dynamic(ts.header.frame_id, ts.child_frame_id, stamp,
                                 (tr.x, tr.y, tr.z), (rot.x, rot.y, rot.z, rot.w))
            else:
                r = quaternion_to_matrix(rot.x, rot.y, rot.z, rot.w)
                self.add(ts.header.frame_id, ts.child_frame_id,
                         make_transform(r, (tr.x, tr.y, tr.z)))
            n += 1
        return n

    def _path(self, target: str, source: str, dynamic: bool) -> list[tuple[str, str]] | None:
        """Edges ``(frame, previous)`` from target back to source, or None (breadth-first)."""
        neighbours: dict[str, set[str]] = {f: set(e) for f, e in self._edges.items()}
        if dynamic:
            for parent, child in self._dynamic:
                neighbours.setdefault(parent, set()).add(child)
                neighbours.setdefault(child, set()).add(parent)
        if source not in neighbours or target not in neighbours:
            return None
        previous: dict[str, str | None] = {source: None}
        queue = deque([source])
        while queue:
            frame = queue.popleft()
            if frame == target:
                break
            for nxt in sorted(neighbours[frame]):
                if nxt not in previous:
                    previous[nxt] = frame
                    queue.append(nxt)
        if target not in previous:
            return None
        path, frame = [], target
        while previous[frame] is not None:
            step = previous[frame]
            assert step is not None
            path.append((frame, step))
            frame = step
        return path

    def _edge(self, frame: str, previous: str, stamp_ns: int | None) -> np.ndarray:
        """``T_frame_previous``: static where there is one, else ``/tf`` at ``stamp_ns``."""
        static = self._edges.get(frame, {}).get(previous)
        if static is not None:
            return static
        forward = self._dynamic.get((frame, previous))
        edge = forward or self._dynamic[(previous, frame)]
        if stamp_ns is None:
            raise TransformTimeError(f"the transform {previous!r} -> {frame!r} is only on /tf: "
                                     "a lookup needs a stamp")
        t = edge.at(stamp_ns, self.tolerance_ns)
        if t is None:
            lo, hi = edge.span()
            raise TransformTimeError(
                f"/tf has no transform {previous!r} <-> {frame!r} near stamp "
                f"{stamp_ns / 1e9:.3f} s (recorded {lo:.3f}..{hi:.3f} s, tolerance "
                f"{self.tolerance_ns / 1e9:g} s)")
        return t if forward is not None else invert_transform(t)

    def lookup(self, target: str, source: str, stamp_ns: int | None = None) -> np.ndarray:
        """``T_target_source``: maps points given in ``source`` into ``target``; ``/tf``
        edges (only where static ones do not connect the frames) at ``stamp_ns``."""
        target, source = target.lstrip("/"), source.lstrip("/")
        if target == source:
            return np.eye(4)
        where = "/tf_static or /tf" if self._dynamic else "/tf_static"
        known = self.frames
        for name in (target, source):
            if name not in known:
                raise TransformError(f"frame {name!r} is not in {where} (frames: "
                                     f"{', '.join(known) or 'none'})")
        path = self._path(target, source, dynamic=False)
        if path is None:
            path = self._path(target, source, dynamic=True)
        if path is None:
            raise TransformError(f"{where} has no chain of transforms from {source!r} to "
                                 f"{target!r} (frames: {', '.join(known)})")
        t = np.eye(4)
        for frame, previous in path:
            t = t @ self._edge(frame, previous, stamp_ns)
        return t

    def connects(self, target: str, source: str, dynamic: bool = False) -> bool:
        """Whether a chain links the two frames (static edges only unless ``dynamic``)."""
        target, source = target.lstrip("/"), source.lstrip("/")
        return target == source or self._path(target, source, dynamic) is not None


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
