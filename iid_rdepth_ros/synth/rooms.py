"""Near-range scenes for synth-street: rooms, corridors and floating objects (depth 0.3-20 m).

Same world frame and primitives as the street (`scene.py`): the floor is the plane y = 0, walls
and ceiling are boxes closing the space, furniture and clutter are boxes and vertical cylinders
textured from the same atlas (photos and procedural noise) at object scale. Every scene is closed
(no sky) and fits in a box whose diagonal is at most `MAX_DIAGONAL_M`, so every depth is below
20 m. The camera pose (any heading) is drawn first and moves slowly along +z; about half of the
objects are then placed where it looks, from arm's length to a few metres.

Nothing comes nearer than `MIN_DEPTH_M` in any frame: every box (a cylinder by its bounding box)
is tested for overlap with the region `0 < depth < MIN_DEPTH_M` of the widest view frustum the
randomised cameras use (`FRUSTUM_TAN`: horizontal field of view up to 120 deg, 4:3, principal
point within 3 % of the centre), at every camera position of the sequence (separating axes), and
dropped if it overlaps; the walls, ceiling and floor take part in the choice of the camera pose.
This depends on the camera's pose, never on its intrinsics, so any randomised camera renders the
same scene with depth >= 0.3 m.

Kinds: `room` (tables with clutter, chairs, shelves with books, cabinets, boxes on the floor,
posters and doors, a few floating objects), `corridor` (long and narrow: doors, posters,
radiators, pillars, ceiling lights, cabinets, boxes) and `floating` (textured boxes and
cylinders floating in a large room with photo-textured walls).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .scene import CameraPath, Lighting, Road, Scene, SceneBuilder
from .textures import MURAL_TILES, PROP_TILES, Atlas

NEAR_KINDS = ("room", "corridor", "floating")
MIN_DEPTH_M = 0.3
FRUSTUM_TAN = (1.9, 1.45)  # |x/z|, |y/z| bounds of every randomised camera's view
MAX_DIAGONAL_M = 19.5
NEAR_MAX_DEPTH_M = 25.0  # ray-cast cut-off (nothing is that far)
_WALL_TILES = ("plaster", "stucco", "concrete", "brick", "brick_fine", "panels", "paint", "noise")
_FLOOR_TILES = ("pavers", "concrete", "gravel", "brick_fine", "panels", "noise", "asphalt")
_CEILING_TILES = ("plaster", "panels", "paint", "concrete")
_OBJECT_TILES = PROP_TILES + MURAL_TILES

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


class _Place:
    """The builder, the room's bounds and the near-region test for everything placed."""

    def __init__(self, b: SceneBuilder, cam: CameraPath, frames: int, near: NearRegion,
                 bounds: tuple[float, float, float, float, float]) -> None:
        self.b, self.rng, self.cam, self.frames, self.near = b, b.rng, cam, frames, near
        self.x0, self.x1, self.z0, self.z1, self.height = bounds

    def boxes(self, parts: list[tuple[Box, int]]) -> bool:
        """Add a composite object if none of its parts comes too near the camera."""
        if not all(self.near.clear(p) for p, _ in parts):
            return False
        for p, mat in parts:
            self.b.box(*p, mat)
        return True

    def cylinder(self, cx: float, cz: float, r: float, y0: float, y1: float, mat: int) -> bool:
        if not self.near.clear((cx - r, cx + r, min(y0, y1), max(y0, y1), cz - r, cz + r)):
            return False
        self.b.cylinder(cx, cz, r, y0, y1, mat)
        return True

    def material(self, tiles: tuple[str, ...], metres: tuple[float, float],
                 tint_lo: float = 0.45) -> int:
        rng = self.rng
        base = rng.uniform(tint_lo, 1.0, 3)
        tint = 0.6 * base + 0.4 * base.mean()
        return self.b.material(str(rng.choice(tiles)), rng.uniform(*metres), tint)

    def spot(self, in_view: bool, margin: float = 0.3) -> np.ndarray:
        """A random point (x, y, z) in the room; with `in_view` one the camera looks at, from
        arm's length to a few metres (clamped into the room)."""
        rng = self.rng
        if in_view:
            k = int(rng.integers(self.frames))
            az, el = np.radians(rng.uniform(-40, 40)), np.radians(rng.uniform(-30, 30))
            d = float(np.exp(rng.uniform(np.log(0.4), np.log(6.0))))
            ray = self.cam.rotation() @ np.array([np.tan(az), np.tan(el), 1.0])
            p = self.cam.position(k) + d * ray / np.linalg.norm(ray)
        else:
            p = np.array([rng.uniform(self.x0, self.x1), -rng.uniform(0, self.height),
                          rng.uniform(self.z0, self.z1)])
        p[0] = np.clip(p[0], self.x0 + margin, self.x1 - margin)
        p[1] = np.clip(p[1], -self.height + 0.05, 0.0)
        p[2] = np.clip(p[2], self.z0 + margin, self.z1 - margin)
        return p

    def wall_point(self) -> tuple[int, float, float, float, float]:
        """A random spot on a random wall: (wall 0..3, x, z, along-x, along-z)."""
        rng = self.rng
        wall = int(rng.integers(4))
        if wall < 2:  # x = x0 or x = x1, extending along z
            return wall, self.x0 if wall == 0 else self.x1, float(rng.uniform(self.z0,
                                                                               self.z1)), 0.0, 1.0
        z = self.z0 if wall == 2 else self.z1
        return wall, float(rng.uniform(self.x0, self.x1)), z, 1.0, 0.0


def _wall_box(wall: int, x: float, z: float, along: float, depth: float, y0: float,
              y1: float) -> Box:
    """A box standing against wall `wall` at (x, z): `along` wide on the wall, `depth` deep."""
    if wall < 2:
        sign = 1.0 if wall == 0 else -1.0
        return (min(x, x + sign * depth), max(x, x + sign * depth), y0, y1,
                z - along / 2, z + along / 2)
    sign = 1.0 if wall == 2 else -1.0
    return (x - along / 2, x + along / 2, y0, y1, min(z, z + sign * depth),
            max(z, z + sign * depth))


def _lighting(rng: np.random.Generator) -> Lighting:
    """Indoor light: mostly from above, strong ambient, no haze, no sky."""
    elev, azim = np.radians(rng.uniform(40, 85)), rng.uniform(0, 2 * np.pi)
    sun = np.array([np.cos(elev) * np.sin(azim), -np.sin(elev), np.cos(elev) * np.cos(azim)])
    ambient = float(rng.uniform(0.45, 0.7))
    grey = np.full(3, rng.uniform(0.6, 0.9))
    return Lighting(sun=sun, ambient=ambient, diffuse=1.05 - ambient, horizon=grey, zenith=grey,
                    cloud=grey, cloud_amount=0.0, fog_m=1e6)


def _shell(width: float, length: float, height: float) -> list[Box]:
    """Walls (x0, x1, z0, z1) and ceiling boxes around x in +-width/2, z in 0..length."""
    x0, x1, z0, z1, t = -width / 2, width / 2, 0.0, length, 0.2
    return [(x0 - t, x0, -height - t, 0, z0 - t, z1 + t), (x1, x1 + t, -height - t, 0, z0 - t,
                                                           z1 + t),
            (x0 - t, x1 + t, -height - t, 0, z0 - t, z0), (x0 - t, x1 + t, -height - t, 0, z1,
                                                           z1 + t),
            (x0 - t, x1 + t, -height - t, -height, z0 - t, z1 + t)]


def _enclosure(b: SceneBuilder, width: float, length: float, height: float,
               wall_tiles: tuple[str, ...], wall_metres: tuple[float, float]) -> Road:
    """Add walls and ceiling; the floor is the ground plane with one material (the "road")."""
    rng = b.rng

    def mat(tiles, metres, lo=0.5):
        base = rng.uniform(lo, 1.0, 3)
        return b.material(str(rng.choice(tiles)), rng.uniform(*metres),
                          0.6 * base + 0.4 * base.mean())

    same = rng.random() < 0.6
    walls = [mat(wall_tiles, wall_metres)] * 4 if same else [mat(wall_tiles, wall_metres)
                                                             for _ in range(4)]
    shell = _shell(width, length, height)
    for box, m in zip(shell, walls + [mat(_CEILING_TILES, (1.0, 3.0))], strict=True):
        b.box(*box, m)
    floor = mat(_FLOOR_TILES, (0.6, 3.0), 0.35)
    return Road(half_width=1e6, curb_width=0.0, sidewalk_width=0.0, dashed_lines=(),
                solid_lines=(), crossings=(), materials=(floor, floor, floor, floor))


def _camera(rng: np.random.Generator, width: float, length: float, height: float,
            frames: int, speed: tuple[float, float], yaw: Callable[[], float],
            pitch_deg: tuple[float, float]) -> tuple[CameraPath, NearRegion]:
    """A slow straight path along +z inside the room whose near region clears walls, ceiling
    and floor (pose redrawn until it does)."""
    shell = _shell(width, length, height) + [(-1e4, 1e4, 0.0, 1.0, -1e4, 1e4)]
    n = max(frames - 1, 1)
    for _ in range(200):
        v = min(float(rng.uniform(*speed)), (length - 1.0) / n)
        travel = v * (frames - 1)
        cam = CameraPath(x=float(rng.uniform(-width / 2 + 0.2, width / 2 - 0.2)),
                         height=float(rng.uniform(0.4, min(1.8, height - 0.3))),
                         yaw=float(np.radians(yaw())),
                         pitch=float(np.radians(rng.uniform(*pitch_deg))), speed=v,
                         z0=float(rng.uniform(0.5, length - 0.5 - travel)))
        near = NearRegion(cam, frames)
        if all(near.clear(box) for box in shell):
            return cam, near
    raise RuntimeError("no camera pose fits the room")  # pragma: no cover - rooms are >= 2 m


def _clutter_item(p: _Place, x: float, z: float, base_y: float, max_size: float) -> bool:
    """A small textured box or upright cylinder standing at (x, base_y, z)."""
    rng = p.rng
    mat = p.material(_OBJECT_TILES, (0.15, 0.8), 0.3)
    h = float(rng.uniform(0.05, max_size))
    if rng.random() < 0.4:
        r = float(rng.uniform(0.025, max_size / 2.5))
        return p.cylinder(x, z, r, base_y - h, base_y, mat)
    sx, sz = rng.uniform(0.05, max_size, 2)
    return p.boxes([((x - sx / 2, x + sx / 2, base_y - h, base_y, z - sz / 2, z + sz / 2), mat)])


def _table(p: _Place, in_view: bool) -> bool:
    rng = p.rng
    x, _, z = p.spot(in_view, 0.5)
    w, d = float(rng.uniform(0.7, 2.0)), float(rng.uniform(0.5, 1.1))
    if rng.random() < 0.5:
        w, d = d, w
    top, th = float(rng.uniform(0.65, 0.8)), float(rng.uniform(0.025, 0.06))
    wood = p.material(("panels", "noise", "paint", "concrete", "gravel"), (0.4, 2.0), 0.3)
    leg = p.material(("noise", "paint"), (0.5, 1.0), 0.2)
    ax, az = w / 2, d / 2
    parts = [((x - ax, x + ax, -top, -top + th, z - az, z + az), wood)]
    s = 0.04
    for sx in (-1, 1):
        for sz in (-1, 1):
            lx, lz = x + sx * (ax - 0.06), z + sz * (az - 0.06)
            parts.append(((lx - s, lx + s, -top + th, 0.0, lz - s, lz + s), leg))
    if not p.boxes(parts):
        return False
    for _ in range(int(rng.integers(2, 10))):
        _clutter_item(p, x + float(rng.uniform(-ax, ax)) * 0.85,
                      z + float(rng.uniform(-az, az)) * 0.85, -top, 0.35)
    return True


def _chair(p: _Place, in_view: bool) -> bool:
    rng = p.rng
    x, _, z = p.spot(in_view, 0.3)
    mat = p.material(("panels", "noise", "paint", "gravel", "grass"), (0.3, 1.5), 0.25)
    s, seat, back = float(rng.uniform(0.2, 0.25)), float(rng.uniform(0.42, 0.5)), 0.45
    parts = [((x - s, x + s, -seat - 0.04, -seat, z - s, z + s), mat)]
    for sx in (-1, 1):
        for sz in (-1, 1):
            lx, lz = x + sx * (s - 0.03), z + sz * (s - 0.03)
            parts.append(((lx - 0.02, lx + 0.02, -seat, 0.0, lz - 0.02, lz + 0.02), mat))
    if rng.random() < 0.5:  # backrest on the -x / +x side
        bx = x + (s if rng.random() < 0.5 else -s)
        parts.append(((bx - 0.03, bx + 0.03, -seat - back, -seat - 0.04, z - s, z + s), mat))
    else:
        bz = z + (s if rng.random() < 0.5 else -s)
        parts.append(((x - s, x + s, -seat - back, -seat - 0.04, bz - 0.03, bz + 0.03), mat))
    return p.boxes(parts)


def _bookshelf(p: _Place) -> bool:
    rng = p.rng
    wall, x, z, ux, uz = p.wall_point()
    width, depth = float(rng.uniform(0.6, 1.8)), float(rng.uniform(0.25, 0.4))
    height = float(rng.uniform(1.0, min(2.2, p.height - 0.1)))
    frame = p.material(("panels", "noise", "paint", "concrete"), (0.5, 2.0), 0.3)
    if not p.near.clear(_wall_box(wall, x, z, width, depth, -height, 0.0)):
        return False
    t = 0.025
    parts = [(_wall_box(wall, x, z, width, t, -height, 0.0), frame)]  # back panel
    for side in (-1, 1):
        cx, cz = x + side * ux * (width / 2 - t / 2), z + side * uz * (width / 2 - t / 2)
        parts.append((_wall_box(wall, cx, cz, t, depth, -height, 0.0), frame))
    levels = np.linspace(0.0, height, int(rng.integers(2, 6)) + 1)
    for y in levels:
        parts.append((_wall_box(wall, x, z, width, depth, -y - t, -y + t if y else 0.0), frame))
    p.boxes(parts)
    for lo, hi in zip(levels[:-1], levels[1:], strict=True):
        pos = -width / 2 + 2 * t
        while True:
            thick = float(rng.uniform(0.02, 0.07))
            if pos + thick > width / 2 - 2 * t:
                break
            if rng.random() < 0.8:
                bh = float(rng.uniform(0.5, 0.95)) * (hi - lo - t)
                c = pos + thick / 2
                box = _wall_box(wall, x + ux * c, z + uz * c, thick,
                                depth * float(rng.uniform(0.6, 0.95)), -lo - t - bh, -lo - t)
                p.b.box(*box, p.material(("paint", "text", "page", "noise"), (0.2, 0.6), 0.1))
            pos += thick
    return True


def _cabinet(p: _Place) -> bool:
    rng = p.rng
    wall, x, z, _, _ = p.wall_point()
    mat = p.material(("panels", "paint", "noise", "concrete") + MURAL_TILES[:3], (0.4, 2.0), 0.3)
    box = _wall_box(wall, x, z, float(rng.uniform(0.4, 2.0)), float(rng.uniform(0.3, 0.7)),
                    -float(rng.uniform(0.5, min(2.2, p.height - 0.1))), 0.0)
    return p.boxes([(box, mat)])


def _wall_item(p: _Place, door: bool) -> bool:
    """A poster (photo) or a door, a few centimetres proud of a wall."""
    rng = p.rng
    wall, x, z, _, _ = p.wall_point()
    if door:
        w, h, y1 = float(rng.uniform(0.8, 1.0)), float(rng.uniform(1.95, 2.1)), 0.0
        mat = p.material(("panels", "paint", "noise", "brick_fine"), (0.5, 2.5), 0.3)
    else:
        w = float(rng.uniform(0.3, 1.5))
        h = float(w * rng.uniform(0.6, 1.4))
        y1 = -float(rng.uniform(0.8, max(0.85, p.height - h - 0.2)))
        mat = p.b.material(str(rng.choice(MURAL_TILES)), w * rng.uniform(0.8, 1.6),
                           rng.uniform(0.75, 1.0, 3))
    box = _wall_box(wall, x, z, w, float(rng.uniform(0.01, 0.05)), y1 - h, y1)
    return p.boxes([(box, mat)])


def _floating(p: _Place, size: tuple[float, float], in_view: bool) -> bool:
    """A textured box or upright cylinder in the air."""
    rng = p.rng
    mat = p.material(_OBJECT_TILES, (0.2, 1.5), 0.25)
    sx, sy, sz = np.exp(rng.uniform(np.log(size[0]), np.log(size[1]), 3))
    x, y, z = p.spot(in_view, 0.0)
    y = min(max(float(y), -p.height + sy / 2), -sy / 2)  # inside floor to ceiling if it fits
    if rng.random() < 0.35:
        r = float(min(sx, sz)) / 2
        return p.cylinder(x, z, r, y - sy / 2, y + sy / 2, mat)
    return p.boxes([((x - sx / 2, x + sx / 2, y - sy / 2, y + sy / 2, z - sz / 2, z + sz / 2),
                     mat)])


def _floor_item(p: _Place, in_view: bool) -> bool:
    rng = p.rng
    x, _, z = p.spot(in_view, 0.2)
    if rng.random() < 0.3:  # bin / bucket / plant pot
        mat = p.material(("noise", "paint", "grass", "gravel"), (0.3, 1.0), 0.2)
        return p.cylinder(x, z, float(rng.uniform(0.1, 0.3)), -float(rng.uniform(0.25, 0.9)),
                          0.0, mat)
    mat = p.material(("noise", "paint", "text", "panels", "page"), (0.3, 1.2), 0.3)
    sx, sy, sz = rng.uniform(0.2, 0.8, 3)
    parts = [((x - sx / 2, x + sx / 2, -sy, 0.0, z - sz / 2, z + sz / 2), mat)]
    if rng.random() < 0.4:  # a second box stacked on top
        tx, ty, tz = rng.uniform(0.15, 0.6, 3)
        parts.append(((x - tx / 2, x + tx / 2, -sy - ty, -sy, z - tz / 2, z + tz / 2), mat))
    return p.boxes(parts)


def _attempts(n: int, place: Callable[[], bool]) -> None:
    """Place `n` objects, trying each at most 6 times (a crowded room may get fewer)."""
    for _ in range(n):
        for _ in range(6):
            if place():
                break


def _setup(b: SceneBuilder, frames: int, size: tuple[float, float, float],
           tiles: tuple[tuple[str, ...], tuple[float, float]], speed: tuple[float, float],
           yaw: Callable[[], float], pitch: tuple[float, float]) -> tuple[Road, _Place]:
    width, length, height = size
    length = min(length, math.sqrt(MAX_DIAGONAL_M ** 2 - width ** 2 - height ** 2))
    road = _enclosure(b, width, length, height, *tiles)
    cam, near = _camera(b.rng, width, length, height, frames, speed, yaw, pitch)
    return road, _Place(b, cam, frames, near, (-width / 2, width / 2, 0.0, length, height))


def _room(b: SceneBuilder, frames: int) -> tuple[Road, _Place]:
    rng = b.rng
    size = (float(rng.uniform(2.5, 12.0)), float(rng.uniform(3.0, 16.0)),
            float(rng.uniform(2.3, 4.0)))
    road, p = _setup(b, frames, size, (_WALL_TILES, (0.8, 3.0)), (0.01, 0.08),
                     lambda: rng.uniform(-180, 180), (-40.0, 15.0))
    area = size[0] * size[1]
    _attempts(int(rng.integers(1, 3)), lambda: _table(p, True))
    _attempts(int(rng.integers(0, 1 + area // 15)), lambda: _table(p, False))
    _attempts(int(rng.integers(0, 3 + area // 10)), lambda: _chair(p, rng.random() < 0.5))
    _attempts(int(rng.integers(0, 3)), lambda: _bookshelf(p))
    _attempts(int(rng.integers(0, 4)), lambda: _cabinet(p))
    _attempts(int(rng.integers(1, 4)), lambda: _wall_item(p, door=True))
    _attempts(int(rng.integers(1, 7)), lambda: _wall_item(p, door=False))
    _attempts(int(rng.integers(2, 5 + area // 6)), lambda: _floor_item(p, rng.random() < 0.5))
    _attempts(int(rng.integers(0, 5)), lambda: _floating(p, (0.1, 0.8), True))
    return road, p


def _corridor(b: SceneBuilder, frames: int) -> tuple[Road, _Place]:
    rng = b.rng
    size = (float(rng.uniform(1.5, 3.2)), float(rng.uniform(8.0, 18.5)),
            float(rng.uniform(2.4, 3.4)))

    def yaw() -> float:  # mostly along the corridor, either way
        if rng.random() < 0.75:
            return float(rng.uniform(-30, 30) + (180 if rng.random() < 0.5 else 0))
        return float(rng.uniform(-180, 180))

    road, p = _setup(b, frames, size, (_WALL_TILES, (0.8, 3.0)), (0.03, 0.15), yaw,
                     (-25.0, 10.0))
    length, height = p.z1, p.height
    _attempts(int(rng.integers(2, 3 + length // 2.5)), lambda: _wall_item(p, door=True))
    _attempts(int(rng.integers(1, 3 + length // 3)), lambda: _wall_item(p, door=False))
    light = b.material("paint", 1.0, np.ones(3))
    z = float(rng.uniform(0.5, 2.5))
    while z < length - 0.5:  # ceiling lights down the middle
        p.boxes([((-0.15, 0.15, -height, -height + 0.03, z - 0.6, z + 0.6), light)])
        z += float(rng.uniform(2.0, 4.0))

    def radiator() -> bool:
        wall, x, zz, _, _ = p.wall_point()
        mat = p.material(("panels", "paint"), (0.1, 0.4), 0.6)
        top = float(rng.uniform(0.5, 0.9))
        return p.boxes([(_wall_box(wall, x, zz, float(rng.uniform(0.6, 1.6)), 0.1, -top, -0.1),
                         mat)])

    def pillar() -> bool:
        wall, x, zz, _, _ = p.wall_point()
        mat = p.material(_WALL_TILES, (0.8, 2.5), 0.5)
        return p.boxes([(_wall_box(wall, x, zz, float(rng.uniform(0.3, 0.6)),
                                   float(rng.uniform(0.1, 0.35)), -height, 0.0), mat)])

    _attempts(int(rng.integers(0, 4)), radiator)
    _attempts(int(rng.integers(0, 4)), pillar)
    _attempts(int(rng.integers(0, 3)), lambda: _cabinet(p))
    _attempts(int(rng.integers(1, 6)), lambda: _floor_item(p, rng.random() < 0.5))
    return road, p


def _floating_room(b: SceneBuilder, frames: int) -> tuple[Road, _Place]:
    rng = b.rng
    size = (float(rng.uniform(5.0, 11.0)), float(rng.uniform(6.0, 15.0)),
            float(rng.uniform(3.0, 7.0)))
    road, p = _setup(b, frames, size, (MURAL_TILES + _WALL_TILES, (1.0, 4.0)), (0.03, 0.15),
                     lambda: rng.uniform(-180, 180), (-25.0, 25.0))
    _attempts(int(rng.integers(8, 20)), lambda: _floating(p, (0.08, 1.5), True))
    _attempts(int(rng.integers(8, 26)), lambda: _floating(p, (0.08, 1.5), False))
    _attempts(int(rng.integers(0, 6)), lambda: _floor_item(p, False))
    return road, p


_KINDS = {"room": _room, "corridor": _corridor, "floating": _floating_room}


def build_near_scene(kind: str, rng: np.random.Generator, atlas: Atlas,
                     sequence_length: int) -> Scene:
    """Draw one near-range scene of `kind` (see `NEAR_KINDS`) and its camera path."""
    if kind not in _KINDS:
        raise ValueError(f"unknown near-range scene kind {kind!r}; choose from {NEAR_KINDS}")
    b = SceneBuilder(atlas=atlas, rng=rng)
    sky = b.material("sky", 1.0, np.ones(3))
    road, p = _KINDS[kind](b, int(sequence_length))
    return b.freeze(road, _lighting(rng), p.cam, sky)
