"""The region a near-range scene must keep clear: where any randomised camera could see a
surface nearer than `MIN_DEPTH_M`.

At every camera position of a sequence it is the pyramid `0 < depth < MIN_DEPTH_M` inside
`FRUSTUM_TAN` (|x/z|, |y/z| of the widest view the randomised cameras draw: horizontal field of
view up to 120 deg, 4:3, principal point within 3 % of the centre). A box overlaps it unless a
separating axis exists (box normals, pyramid face normals, their edges' cross products). It
depends on the camera's pose only, never on its intrinsics.
"""

from __future__ import annotations

import numpy as np

from .scene import CameraPath

MIN_DEPTH_M = 0.3
FRUSTUM_TAN = (1.9, 1.45)  # |x/z|, |y/z| bounds of every randomised camera's view

Box = tuple[float, float, float, float, float, float]  # x0, x1, y0, y1, z0, z1


class NearRegion:
    """The region `0 < depth < MIN_DEPTH_M` inside `FRUSTUM_TAN` at every camera position."""

    def __init__(self, cam: CameraPath, frames: int, min_depth: float = MIN_DEPTH_M + 0.01
                 ) -> None:
        r = cam.rotation()
        tx, ty = FRUSTUM_TAN
        local = np.array([[0.0, 0.0, 0.0]] + [[sx * tx * min_depth, sy * ty * min_depth,
                                                min_depth] for sx in (-1, 1) for sy in (-1, 1)])
        pos = np.stack([cam.position(k) for k in range(max(frames, 1))])
        self.verts = pos[:, None, :] + (local @ r.T)[None]  # (K, 5, 3)
        # Separating axes: box normals, pyramid face normals, box edges x pyramid edges.
        lat = local[1:] @ r.T  # apex -> base corners (world), also the lateral edges
        base_edges = [lat[1] - lat[0], lat[2] - lat[0]]  # the base is a rectangle
        ring = [0, 1, 3, 2]  # corners in order around the base
        faces = [np.cross(lat[ring[i]], lat[ring[(i + 1) % 4]]) for i in range(4)]
        faces.append(np.cross(*base_edges))
        edges = list(lat) + base_edges
        cross = [np.cross(a, e) for a in np.eye(3) for e in edges]
        axes = np.array([*np.eye(3), *faces, *cross])
        norms = np.linalg.norm(axes, axis=1)
        self.axes = axes[norms > 1e-9] / norms[norms > 1e-9, None]
        proj = self.verts @ self.axes.T  # (K, 5, A)
        self.lo, self.hi = proj.min(axis=1), proj.max(axis=1)

    def clear(self, box: Box) -> bool:
        """True if `box` stays out of the near region at every camera position."""
        x0, x1, y0, y1, z0, z1 = box
        corners = np.array([[x, y, z] for x in (x0, x1) for y in (y0, y1) for z in (z0, z1)])
        proj = corners @ self.axes.T
        sep = (proj.max(axis=0) < self.lo) | (proj.min(axis=0) > self.hi)  # (K, A)
        return bool(sep.any(axis=1).all())
