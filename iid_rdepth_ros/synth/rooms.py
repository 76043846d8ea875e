"""Near-range scenes for synth-street: rooms, corridors and floating objects (depth 0.3-20 m).

Same world frame and primitives as the street (`scene.py`): the floor is the plane y = 0, walls
and ceiling are boxes closing the space, furniture and clutter (`furniture.py`) are boxes and
vertical cylinders textured from the same atlas (photos and procedural noise) at object scale.
Every scene is closed (no sky) and fits in a box whose diagonal is at most `MAX_DIAGONAL_M`, so
every depth is below 20 m. The camera pose (any heading) is drawn first, redrawn until walls,
ceiling and floor stay out of its near region (`near_region.py`), and moves slowly along +z;
about half of the objects are then placed where it looks, from arm's length to a few metres,
each kept out of the near region at every camera position, so every depth is >= 0.3 m for any
randomised camera.

Kinds: `room` (tables with clutter, chairs, shelves with books, cabinets, boxes on the floor,
posters and doors, a few floating objects), `corridor` (long and narrow: doors, posters,
radiators, pillars, ceiling lights, cabinets, boxes) and `floating` (textured boxes and
cylinders floating in a large room with photo-textured walls).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .furniture import (
    Placer,
    attempts,
    bookshelf,
    cabinet,
    chair,
    floating,
    floor_item,
    table,
    wall_box,
    wall_item,
)
from .near_region import Box, NearRegion
from .scene import CameraPath, Lighting, Road, Scene, SceneBuilder
from .textures import MURAL_TILES, Atlas

NEAR_KINDS = ("room", "corridor", "floating")
MAX_DIAGONAL_M = 19.5
NEAR_MAX_DEPTH_M = 25.0  # ray-cast cut-off (nothing is that far)
_WALL_TILES = ("plaster", "stucco", "concrete", "brick", "brick_fine", "panels", "paint", "noise")
_FLOOR_TILES = ("pavers", "concrete", "gravel", "brick_fine", "panels", "noise", "asphalt")
_CEILING_TILES = ("plaster", "panels", "paint", "concrete")


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


def _setup(b: SceneBuilder, frames: int, size: tuple[float, float, float],
           tiles: tuple[tuple[str, ...], tuple[float, float]], speed: tuple[float, float],
           yaw: Callable[[], float], pitch: tuple[float, float]) -> tuple[Road, Placer]:
    width, length, height = size
    length = min(length, math.sqrt(MAX_DIAGONAL_M ** 2 - width ** 2 - height ** 2))
    road = _enclosure(b, width, length, height, *tiles)
    cam, near = _camera(b.rng, width, length, height, frames, speed, yaw, pitch)
    return road, Placer(b, cam, frames, near, (-width / 2, width / 2, 0.0, length, height))


def _room(b: SceneBuilder, frames: int) -> tuple[Road, Placer]:
    rng = b.rng
    size = (float(rng.uniform(2.5, 12.0)), float(rng.uniform(3.0, 16.0)),
            float(rng.uniform(2.3, 4.0)))
    road, p = _setup(b, frames, size, (_WALL_TILES, (0.8, 3.0)), (0.01, 0.08),
                     lambda: rng.uniform(-180, 180), (-40.0, 15.0))
    area = size[0] * size[1]
    attempts(int(rng.integers(1, 3)), lambda: table(p, True))
    attempts(int(rng.integers(0, 1 + area // 15)), lambda: table(p, False))
    attempts(int(rng.integers(0, 3 + area // 10)), lambda: chair(p, rng.random() < 0.5))
    attempts(int(rng.integers(0, 3)), lambda: bookshelf(p))
    attempts(int(rng.integers(0, 4)), lambda: cabinet(p))
    attempts(int(rng.integers(1, 4)), lambda: wall_item(p, door=True))
    attempts(int(rng.integers(1, 7)), lambda: wall_item(p, door=False))
    attempts(int(rng.integers(2, 5 + area // 6)), lambda: floor_item(p, rng.random() < 0.5))
    attempts(int(rng.integers(0, 5)), lambda: floating(p, (0.1, 0.8), True))
    return road, p


def _corridor(b: SceneBuilder, frames: int) -> tuple[Road, Placer]:
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
    attempts(int(rng.integers(2, 3 + length // 2.5)), lambda: wall_item(p, door=True))
    attempts(int(rng.integers(1, 3 + length // 3)), lambda: wall_item(p, door=False))
    light = b.material("paint", 1.0, np.ones(3))
    z = float(rng.uniform(0.5, 2.5))
    while z < length - 0.5:  # ceiling lights down the middle
        p.boxes([((-0.15, 0.15, -height, -height + 0.03, z - 0.6, z + 0.6), light)])
        z += float(rng.uniform(2.0, 4.0))

    def radiator() -> bool:
        wall, x, zz, _, _ = p.wall_point()
        mat = p.material(("panels", "paint"), (0.1, 0.4), 0.6)
        top = float(rng.uniform(0.5, 0.9))
        return p.boxes([(wall_box(wall, x, zz, float(rng.uniform(0.6, 1.6)), 0.1, -top, -0.1),
                         mat)])

    def pillar() -> bool:
        wall, x, zz, _, _ = p.wall_point()
        mat = p.material(_WALL_TILES, (0.8, 2.5), 0.5)
        return p.boxes([(wall_box(wall, x, zz, float(rng.uniform(0.3, 0.6)),
                                   float(rng.uniform(0.1, 0.35)), -height, 0.0), mat)])

    attempts(int(rng.integers(0, 4)), radiator)
    attempts(int(rng.integers(0, 4)), pillar)
    attempts(int(rng.integers(0, 3)), lambda: cabinet(p))
    attempts(int(rng.integers(1, 6)), lambda: floor_item(p, rng.random() < 0.5))
    return road, p


def _floating_room(b: SceneBuilder, frames: int) -> tuple[Road, Placer]:
    rng = b.rng
    size = (float(rng.uniform(5.0, 11.0)), float(rng.uniform(6.0, 15.0)),
            float(rng.uniform(3.0, 7.0)))
    road, p = _setup(b, frames, size, (MURAL_TILES + _WALL_TILES, (1.0, 4.0)), (0.03, 0.15),
                     lambda: rng.uniform(-180, 180), (-25.0, 25.0))
    attempts(int(rng.integers(8, 20)), lambda: floating(p, (0.08, 1.5), True))
    attempts(int(rng.integers(8, 26)), lambda: floating(p, (0.08, 1.5), False))
    attempts(int(rng.integers(0, 6)), lambda: floor_item(p, False))
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
