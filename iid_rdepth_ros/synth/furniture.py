"""Furniture and clutter of near-range scenes: tables with things on them, chairs, shelves with
books, cabinets, posters and doors, boxes and bins on the floor, floating objects.

Everything is an axis-aligned box or an upright cylinder placed through a `Placer`, which keeps
it out of the camera path's near region (`near_region.py`) and knows the room's bounds.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .near_region import Box, NearRegion
from .scene import CameraPath, SceneBuilder
from .textures import MURAL_TILES, PROP_TILES

OBJECT_TILES = PROP_TILES + MURAL_TILES


class Placer:
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


def wall_box(wall: int, x: float, z: float, along: float, depth: float, y0: float,
              y1: float) -> Box:
    """A box standing against wall `wall` at (x, z): `along` wide on the wall, `depth` deep."""
    if wall < 2:
        sign = 1.0 if wall == 0 else -1.0
        return (min(x, x + sign * depth), max(x, x + sign * depth), y0, y1,
                z - along / 2, z + along / 2)
    sign = 1.0 if wall == 2 else -1.0
    return (x - along / 2, x + along / 2, y0, y1, min(z, z + sign * depth),
            max(z, z + sign * depth))


def clutter_item(p: Placer, x: float, z: float, base_y: float, max_size: float) -> bool:
    """A small textured box or upright cylinder standing at (x, base_y, z)."""
    rng = p.rng
    mat = p.material(OBJECT_TILES, (0.15, 0.8), 0.3)
    h = float(rng.uniform(0.05, max_size))
    if rng.random() < 0.4:
        r = float(rng.uniform(0.025, max_size / 2.5))
        return p.cylinder(x, z, r, base_y - h, base_y, mat)
    sx, sz = rng.uniform(0.05, max_size, 2)
    return p.boxes([((x - sx / 2, x + sx / 2, base_y - h, base_y, z - sz / 2, z + sz / 2), mat)])


def table(p: Placer, in_view: bool) -> bool:
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
        clutter_item(p, x + float(rng.uniform(-ax, ax)) * 0.85,
                      z + float(rng.uniform(-az, az)) * 0.85, -top, 0.35)
    return True


def chair(p: Placer, in_view: bool) -> bool:
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


def bookshelf(p: Placer) -> bool:
    rng = p.rng
    wall, x, z, ux, uz = p.wall_point()
    width, depth = float(rng.uniform(0.6, 1.8)), float(rng.uniform(0.25, 0.4))
    height = float(rng.uniform(1.0, min(2.2, p.height - 0.1)))
    frame = p.material(("panels", "noise", "paint", "concrete"), (0.5, 2.0), 0.3)
    if not p.near.clear(wall_box(wall, x, z, width, depth, -height, 0.0)):
        return False
    t = 0.025
    parts = [(wall_box(wall, x, z, width, t, -height, 0.0), frame)]  # back panel
    for side in (-1, 1):
        cx, cz = x + side * ux * (width / 2 - t / 2), z + side * uz * (width / 2 - t / 2)
        parts.append((wall_box(wall, cx, cz, t, depth, -height, 0.0), frame))
    levels = np.linspace(0.0, height, int(rng.integers(2, 6)) + 1)
    for y in levels:
        parts.append((wall_box(wall, x, z, width, depth, -y - t, -y + t if y else 0.0), frame))
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
                box = wall_box(wall, x + ux * c, z + uz * c, thick,
                                depth * float(rng.uniform(0.6, 0.95)), -lo - t - bh, -lo - t)
                p.b.box(*box, p.material(("paint", "text", "page", "noise"), (0.2, 0.6), 0.1))
            pos += thick
    return True


def cabinet(p: Placer) -> bool:
    rng = p.rng
    wall, x, z, _, _ = p.wall_point()
    mat = p.material(("panels", "paint", "noise", "concrete") + MURAL_TILES[:3], (0.4, 2.0), 0.3)
    box = wall_box(wall, x, z, float(rng.uniform(0.4, 2.0)), float(rng.uniform(0.3, 0.7)),
                    -float(rng.uniform(0.5, min(2.2, p.height - 0.1))), 0.0)
    return p.boxes([(box, mat)])


def wall_item(p: Placer, door: bool) -> bool:
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
    box = wall_box(wall, x, z, w, float(rng.uniform(0.01, 0.05)), y1 - h, y1)
    return p.boxes([(box, mat)])


def floating(p: Placer, size: tuple[float, float], in_view: bool) -> bool:
    """A textured box or upright cylinder in the air."""
    rng = p.rng
    mat = p.material(OBJECT_TILES, (0.2, 1.5), 0.25)
    sx, sy, sz = np.exp(rng.uniform(np.log(size[0]), np.log(size[1]), 3))
    x, y, z = p.spot(in_view, 0.0)
    y = min(max(float(y), -p.height + sy / 2), -sy / 2)  # inside floor to ceiling if it fits
    if rng.random() < 0.35:
        r = float(min(sx, sz)) / 2
        return p.cylinder(x, z, r, y - sy / 2, y + sy / 2, mat)
    return p.boxes([((x - sx / 2, x + sx / 2, y - sy / 2, y + sy / 2, z - sz / 2, z + sz / 2),
                     mat)])


def floor_item(p: Placer, in_view: bool) -> bool:
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


def attempts(n: int, place: Callable[[], bool]) -> None:
    """Place `n` objects, trying each at most 6 times (a crowded room may get fewer)."""
    for _ in range(n):
        for _ in range(6):
            if place():
                break
