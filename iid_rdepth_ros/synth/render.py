"""Vectorised ray casting of a synth-street scene: exact depth, object id and face per pixel.

Every pixel (u, v) (integer coordinates are pixel centres, OpenCV convention) shoots the ray
`origin + t * d` with `d = R @ K^-1 [u, v, 1]`, so the ray parameter `t` *is* the depth (the
camera-z distance) of the hit. Intersections are closed-form: the ground plane for the whole image
at once, then each camera-facing box face (a rectangle in an axis-aligned plane) and each vertical
cylinder only over the pixels of its projected, near-plane-clipped bounding rectangle, with a
z-buffer test. Both stereo views use the same `RayGrid` (same orientation), only the origin moves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .scene import Scene

NEAR = 0.05  # metres: nothing closer than this is hit
_BIG = np.float32(1e30)

# Face codes (outward normal of the hit surface); 0 = nothing hit.
FACE_NORMALS = np.array([
    [0, 0, 0],  # 0 none
    [-1, 0, 0], [1, 0, 0],  # 1: box min-x face, 2: max-x face
    [0, -1, 0], [0, 1, 0],  # 3: top (min-y, also the ground), 4: bottom
    [0, 0, -1], [0, 0, 1],  # 5: min-z face, 6: max-z face
    [0, 0, 0],  # 7: cylinder (normal varies, computed by the shader)
], np.float32)
CYLINDER = 7


@dataclass(frozen=True)
class RayGrid:
    """Per-pixel world-frame ray directions (camera-z component 1) for one orientation."""

    height: int
    width: int
    k: np.ndarray  # (3, 3) intrinsics
    r: np.ndarray  # (3, 3) world-from-camera rotation
    d: tuple[np.ndarray, np.ndarray, np.ndarray]  # (H, W) float32 each: x, y, z
    inv: tuple[np.ndarray, np.ndarray, np.ndarray]  # 1/d with huge values where d == 0
    axz: np.ndarray  # dx^2 + dz^2 (cylinder quadratic)
    norm: np.ndarray  # |d| = slant range per metre of depth


def make_rays(k: np.ndarray, r: np.ndarray, height: int, width: int) -> RayGrid:
    """Ray directions for a `height` x `width` image with intrinsics `k` and orientation `r`."""
    fx, fy, cx, cy = k[0, 0], k[1, 1], k[0, 2], k[1, 2]
    u = (np.arange(width, dtype=np.float64) - cx) / fx
    v = (np.arange(height, dtype=np.float64) - cy) / fy
    cam = np.stack(np.broadcast_arrays(u[None, :], v[:, None], np.ones((1, 1))), axis=0)
    world = np.einsum("ij,jhw->ihw", r, cam)
    d = tuple(np.ascontiguousarray(c, dtype=np.float32) for c in world)
    inv = []
    for c in world:
        safe = np.where(np.abs(c) < 1e-12, 1e-30, c)
        inv.append(np.clip(1.0 / safe, -_BIG, _BIG).astype(np.float32))
    axz = (d[0] ** 2 + d[2] ** 2).astype(np.float32)
    norm = np.sqrt(axz + d[1] ** 2).astype(np.float32)
    return RayGrid(height=height, width=width, k=np.asarray(k, float), r=np.asarray(r, float),
                   d=d, inv=tuple(inv), axz=axz, norm=norm)


@dataclass
class Hits:
    """Z-buffer result of one view: depth (inf = nothing), object id, face code."""

    depth: np.ndarray  # (H, W) float32
    obj: np.ndarray  # (H, W) intp
    face: np.ndarray  # (H, W) uint8


def _project_bounds(rays: RayGrid, origin: np.ndarray, pts: np.ndarray,
                    edges: tuple[tuple[int, int], ...]) -> np.ndarray:
    """Pixel bounding rectangles of convex polygons/polyhedra, clipped at the near plane.

    pts: (n, p, 3) world points per item; edges: index pairs into p. Returns (n, 4) int
    rows u0, u1, v0, v1 (inclusive), with u0 > u1 where the item is not in view.
    """
    cam = (pts - origin) @ rays.r  # camera coordinates (R^T (p - o))
    z = cam[..., 2]
    near = 1e-3
    cand = [cam]
    ok = [z > near]
    for a, b in edges:
        za, zb = z[:, a], z[:, b]
        cross = (za - near) * (zb - near) < 0
        s = np.where(cross, (near - za) / np.where(cross, zb - za, 1.0), 0.0)
        cand.append((cam[:, a] + s[:, None] * (cam[:, b] - cam[:, a]))[:, None])
        ok.append(cross[:, None])
    cam = np.concatenate(cand, axis=1)
    ok = np.concatenate(ok, axis=1)
    z = np.where(ok, np.maximum(cam[..., 2], near), 1.0)
    k = rays.k
    u = k[0, 0] * cam[..., 0] / z + k[0, 2]
    v = k[1, 1] * cam[..., 1] / z + k[1, 2]
    inf = np.inf
    u0 = np.floor(np.where(ok, u, inf).min(axis=1))
    u1 = np.ceil(np.where(ok, u, -inf).max(axis=1))
    v0 = np.floor(np.where(ok, v, inf).min(axis=1))
    v1 = np.ceil(np.where(ok, v, -inf).max(axis=1))
    w, h = rays.width, rays.height
    out = np.empty((len(pts), 4), np.int64)
    big = 1 << 30
    out[:, 0] = np.clip(np.nan_to_num(u0, posinf=big, neginf=-big), 0, big)
    out[:, 1] = np.clip(np.nan_to_num(u1, posinf=big, neginf=-big), -1, w - 1)
    out[:, 2] = np.clip(np.nan_to_num(v0, posinf=big, neginf=-big), 0, big)
    out[:, 3] = np.clip(np.nan_to_num(v1, posinf=big, neginf=-big), -1, h - 1)
    empty = (out[:, 0] > out[:, 1]) | (out[:, 2] > out[:, 3]) | ~ok.any(axis=1)
    out[empty, 0], out[empty, 1] = 1, 0
    return out


_QUAD_EDGES = ((0, 1), (1, 2), (2, 3), (3, 0))
_BOX_EDGES = ((0, 1), (1, 3), (3, 2), (2, 0), (4, 5), (5, 7), (7, 6), (6, 4),
              (0, 4), (1, 5), (2, 6), (3, 7))


def _visible_faces(boxes: np.ndarray, origin: np.ndarray):
    """Camera-facing faces of all boxes: (box index, axis, side, plane value, 4 corners)."""
    lo, hi = boxes[:, 0::2], boxes[:, 1::2]  # (N, 3) mins and maxes per axis
    items = []
    for axis in range(3):
        a1, a2 = [a for a in range(3) if a != axis]
        for side, plane in ((0, lo[:, axis]), (1, hi[:, axis])):
            facing = origin[axis] < plane if side == 0 else origin[axis] > plane
            idx = np.nonzero(facing)[0]
            if len(idx) == 0:
                continue
            c = np.empty((len(idx), 4, 3))
            c[:, :, axis] = plane[idx, None]
            c[:, :, a1] = np.stack([lo[idx, a1], hi[idx, a1], hi[idx, a1], lo[idx, a1]], 1)
            c[:, :, a2] = np.stack([lo[idx, a2], lo[idx, a2], hi[idx, a2], hi[idx, a2]], 1)
            items.append((idx, axis, side, plane[idx], c))
    return items


_BATCH_AREA = 800  # bounding rectangles smaller than this (pixels) are cast in one batch


def _rect_pixels(bounds: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat pixel indices covered by rectangles (u0, u1, v0, v1) and the rectangle of each."""
    heights = bounds[:, 3] - bounds[:, 2] + 1
    widths = bounds[:, 1] - bounds[:, 0] + 1
    row_owner = np.repeat(np.arange(len(bounds)), heights)
    local_row = np.arange(len(row_owner)) - np.repeat(np.cumsum(heights) - heights, heights)
    row_start = (bounds[row_owner, 2] + local_row) * width + bounds[row_owner, 0]
    rw = widths[row_owner]
    offset = np.arange(int(rw.sum())) - np.repeat(np.cumsum(rw) - rw, rw)
    return np.repeat(row_start, rw) + offset, np.repeat(row_owner, rw)


class _ZBuffer:
    """Depth, object id and face code of one view, with the two ways of writing into them."""

    def __init__(self, depth: np.ndarray, obj: np.ndarray, face: np.ndarray) -> None:
        self.depth, self.obj, self.face = depth, obj, face

    def write_rect(self, bounds, t: np.ndarray, ok: np.ndarray, obj_id: int, code: int) -> None:
        """Z-test and write a rectangle of candidate depths `t` (valid where `ok`)."""
        u0, u1, v0, v1 = bounds
        sl = (slice(v0, v1 + 1), slice(u0, u1 + 1))
        dsub = self.depth[sl]
        hit = ok & (t < dsub)
        np.copyto(dsub, t, where=hit)
        np.copyto(self.obj[sl], obj_id, where=hit)
        np.copyto(self.face[sl], np.uint8(code), where=hit)

    def write_pixels(self, pix: np.ndarray, t: np.ndarray, obj_id: np.ndarray,
                     code: np.ndarray) -> None:
        """Z-test and write scattered candidates (several may share a pixel: nearest wins)."""
        if len(pix) == 0:
            return
        flat = self.depth.reshape(-1)
        np.minimum.at(flat, pix, t)
        win = t == flat[pix]
        self.obj.reshape(-1)[pix[win]] = obj_id[win]
        self.face.reshape(-1)[pix[win]] = code[win]


def _faces(zb: _ZBuffer, scene: Scene, rays: RayGrid, o: np.ndarray) -> None:
    """All camera-facing box faces: large ones rectangle by rectangle, small ones batched."""
    boxes = scene.boxes
    o32 = o.astype(np.float32)
    for idx, axis, side, planes, corners in _visible_faces(boxes, o):
        a1, a2 = [a for a in range(3) if a != axis]
        bounds = _project_bounds(rays, o, corners, _QUAD_EDGES)
        code = 1 + 2 * axis + side
        inview = bounds[:, 0] <= bounds[:, 1]
        area = (bounds[:, 1] - bounds[:, 0] + 1) * (bounds[:, 3] - bounds[:, 2] + 1)
        offset = (planes - o[axis]).astype(np.float32)
        lims = boxes[idx][:, [2 * a1, 2 * a1 + 1, 2 * a2, 2 * a2 + 1]].astype(np.float32)
        for j in np.nonzero(inview & (area >= _BATCH_AREA))[0]:
            u0, u1, v0, v1 = bounds[j]
            sl = (slice(v0, v1 + 1), slice(u0, u1 + 1))
            t = rays.inv[axis][sl] * offset[j]
            p1 = t * rays.d[a1][sl]
            p1 += o32[a1]
            p2 = t * rays.d[a2][sl]
            p2 += o32[a2]
            lo1, hi1, lo2, hi2 = lims[j]
            ok = (t > NEAR) & (p1 >= lo1) & (p1 <= hi1) & (p2 >= lo2) & (p2 <= hi2)
            zb.write_rect(bounds[j], t, ok, 2 + int(idx[j]), code)
        sel = np.nonzero(inview & (area < _BATCH_AREA))[0]
        if len(sel) == 0:
            continue
        # Small faces (far away): every (pixel, face) candidate of the group in one go.
        pix, f = _rect_pixels(bounds[sel], rays.width)
        f = sel[f]
        t = np.take(rays.inv[axis], pix) * np.take(offset, f)
        p1 = np.take(rays.d[a1], pix) * t
        p1 += o32[a1]
        p2 = np.take(rays.d[a2], pix) * t
        p2 += o32[a2]
        ok = ((t > NEAR) & (p1 >= np.take(lims[:, 0], f)) & (p1 <= np.take(lims[:, 1], f))
              & (p2 >= np.take(lims[:, 2], f)) & (p2 <= np.take(lims[:, 3], f)))
        ok &= t < np.take(zb.depth, pix)
        n_ok = int(ok.sum())
        zb.write_pixels(pix[ok], t[ok], 2 + idx[f[ok]], np.full(n_ok, code, np.uint8))


def _cylinders(zb: _ZBuffer, scene: Scene, rays: RayGrid, o: np.ndarray) -> None:
    """Vertical cylinders whose outside the camera can see, over their bounding rectangles."""
    cyl = scene.cylinders
    px, pz = o[0] - cyl[:, 0], o[2] - cyl[:, 1]
    c = px * px + pz * pz - cyl[:, 2] ** 2
    keep = np.nonzero(c > 0)[0]  # the camera is not inside the footprint
    if len(keep) == 0:
        return
    cyl, px, pz, c = cyl[keep], px[keep], pz[keep], c[keep]
    corners = np.empty((len(cyl), 8, 3))
    for i in range(8):
        corners[:, i, 0] = cyl[:, 0] + (cyl[:, 2] if i & 1 else -cyl[:, 2])
        corners[:, i, 1] = cyl[:, 4] if i & 2 else cyl[:, 3]
        corners[:, i, 2] = cyl[:, 1] + (cyl[:, 2] if i & 4 else -cyl[:, 2])
    bounds = _project_bounds(rays, o, corners, _BOX_EDGES)
    sel = np.nonzero(bounds[:, 0] <= bounds[:, 1])[0]
    if len(sel) == 0:
        return
    pix, f = _rect_pixels(bounds[sel], rays.width)
    f = sel[f]
    dx, dy, dz = (rays.d[i].reshape(-1)[pix] for i in range(3))
    a = rays.axz.reshape(-1)[pix]
    pxf, pzf = px.astype(np.float32)[f], pz.astype(np.float32)[f]
    hb = dx * pxf + dz * pzf
    disc = hb * hb - a * c.astype(np.float32)[f]
    t = (-hb - np.sqrt(np.maximum(disc, 0))) / np.maximum(a, np.float32(1e-12))
    y = np.float32(o[1]) + t * dy
    y0, y1 = cyl[:, 3].astype(np.float32)[f], cyl[:, 4].astype(np.float32)[f]
    ok = (disc >= 0) & (t > NEAR) & (y >= y0) & (y <= y1)
    ok &= t < zb.depth.reshape(-1)[pix]
    ids = 2 + len(scene.boxes) + keep[f[ok]]
    zb.write_pixels(pix[ok], t[ok], ids, np.full(int(ok.sum()), CYLINDER, np.uint8))


def cast(scene: Scene, rays: RayGrid, origin: np.ndarray, max_depth: float) -> Hits:
    """Ray cast one view from `origin` (world, metres); hits beyond `max_depth` are dropped."""
    o = np.asarray(origin, np.float64)
    dy = rays.d[1]
    # Ground plane y = 0, seen by rays pointing down.
    t_ground = np.float32(-o[1]) * rays.inv[1]
    if o[1] < 0:
        g = (dy > 0) & (t_ground <= max_depth) & (t_ground > NEAR)
    else:
        g = np.zeros_like(dy, bool)
    zb = _ZBuffer(depth=np.where(g, t_ground, np.float32(np.inf)).astype(np.float32),
                  obj=g.astype(np.intp), face=np.where(g, np.uint8(3), np.uint8(0)))
    if len(scene.boxes):
        _faces(zb, scene, rays, o)
    if len(scene.cylinders):
        _cylinders(zb, scene, rays, o)
    depth, obj, face = zb.depth, zb.obj, zb.face
    far = depth > max_depth
    if far.any():
        depth[far] = np.inf
        obj[far] = 0
        face[far] = 0
    return Hits(depth=depth, obj=obj, face=face)
