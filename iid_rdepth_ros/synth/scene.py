"""Random street layouts for synth-street.

World frame (metres): x right, y down, z along the street; the ground is the plane y = 0, so
heights are negative y. Geometry is deliberately simple so it can be ray cast exactly: axis-aligned
boxes (buildings, cars, props, sign plates, an optional far wall closing the street) and vertical
cylinders (poles, tree trunks and crowns). A scene is drawn per sequence; the camera then moves
along +z through it (see `CameraPath`).

Object ids used by the renderer: 0 = sky (nothing hit), 1 = ground, 2 .. 2+N-1 = boxes,
2+N .. = cylinders. `Scene.obj_material[obj]` names the material row of each object; the ground's
material depends on where it is hit (road, curb, sidewalk, verge: `Road.materials`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .textures import FACADE_TILES, MURAL_TILES, PROP_TILES, TILE, Atlas

# Material kinds (how the shader treats a material row).
PLAIN = 0
FACADE = 1  # procedural window grid over the base texture


@dataclass(frozen=True)
class SceneOptions:
    """What a scene may contain and how much the camera may deviate from the street axis."""

    buildings: bool = True
    cars: bool = True
    poles: bool = True
    trees: bool = True
    props: bool = True
    far_wall_probability: float = 0.5
    max_yaw_deg: float = 3.0
    max_pitch_deg: float = 1.5
    camera_height_m: float = 1.65
    speed_range_m: tuple[float, float] = (0.7, 1.3)  # forward motion per frame

    @classmethod
    def ground_only(cls) -> SceneOptions:
        """Nothing but the ground plane and the sky, camera level and looking down the street."""
        return cls(buildings=False, cars=False, poles=False, trees=False, props=False,
                   far_wall_probability=0.0, max_yaw_deg=0.0, max_pitch_deg=0.0)


@dataclass(frozen=True)
class Materials:
    """Per-material rows: atlas tile, texels per metre, texture offset, colour tint, kind."""

    tile: np.ndarray  # (n,) int32
    scale: np.ndarray  # (n,) float32, texels per metre
    offset: np.ndarray  # (n, 2) float32, texels
    tint: np.ndarray  # (n, 3) float32, RGB multiplier
    kind: np.ndarray  # (n,) uint8, PLAIN | FACADE
    window: np.ndarray  # (n, 4) float32: spacing_m, floor_height_m, width_frac, height_frac
    glass: np.ndarray  # (n, 3) float32, window colour


@dataclass(frozen=True)
class Road:
    """Cross-section of the street (symmetric about x = 0) and its paint."""

    half_width: float  # kerb at |x| = half_width
    curb_width: float
    sidewalk_width: float
    dashed_lines: tuple[float, ...]  # x of dashed lane lines
    solid_lines: tuple[float, ...]  # x of solid edge lines
    crossings: tuple[float, ...]  # z of zebra crossings (4 m long)
    materials: tuple[int, int, int, int]  # material rows: road, curb, sidewalk, verge


@dataclass(frozen=True)
class Lighting:
    """Sun direction (unit vector towards the sun), Lambertian weights and sky colours."""

    sun: np.ndarray  # (3,)
    ambient: float
    diffuse: float
    horizon: np.ndarray  # (3,) RGB in [0, 1]
    zenith: np.ndarray
    cloud: np.ndarray
    cloud_amount: float
    fog_m: float  # distance at which haze reaches 1 - 1/e


@dataclass(frozen=True)
class CameraPath:
    """Left-camera trajectory of a sequence: constant lane, height, yaw and pitch."""

    x: float
    height: float
    yaw: float  # radians, about the world y axis
    pitch: float  # radians, about the camera x axis
    speed: float  # metres per frame along +z
    z0: float = 0.0

    def rotation(self) -> np.ndarray:
        """World-from-camera rotation (columns are the camera axes in the world)."""
        cy, sy = np.cos(self.yaw), np.sin(self.yaw)
        cp, sp = np.cos(self.pitch), np.sin(self.pitch)
        ry = np.array([[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]])
        rx = np.array([[1.0, 0.0, 0.0], [0.0, cp, -sp], [0.0, sp, cp]])
        return ry @ rx

    def position(self, k: int) -> np.ndarray:
        """Left-camera centre in the world at frame `k` of the sequence."""
        return np.array([self.x, -self.height, self.z0 + self.speed * k])

    def pose(self, k: int) -> np.ndarray:
        """4x4 world-from-camera transform at frame `k`."""
        t = np.eye(4)
        t[:3, :3] = self.rotation()
        t[:3, 3] = self.position(k)
        return t


@dataclass(frozen=True)
class Scene:
    """One street: geometry, materials, lighting and the camera path through it."""

    boxes: np.ndarray  # (N, 6) float64: x0, x1, y0, y1, z0, z1 (min < max)
    cylinders: np.ndarray  # (M, 5) float64: cx, cz, radius, y0, y1 (vertical axis)
    obj_material: np.ndarray  # (2 + N + M,) int32 material row per object id
    materials: Materials
    road: Road
    lighting: Lighting
    camera: CameraPath
    sky_material: int = 0

    @property
    def n_objects(self) -> int:
        return 2 + len(self.boxes) + len(self.cylinders)


@dataclass
class SceneBuilder:
    """Collects geometry and materials, then freezes them into a `Scene`."""

    atlas: Atlas
    rng: np.random.Generator
    boxes: list[tuple[float, ...]] = field(default_factory=list)
    box_mat: list[int] = field(default_factory=list)
    cyls: list[tuple[float, ...]] = field(default_factory=list)
    cyl_mat: list[int] = field(default_factory=list)
    mats: list[tuple] = field(default_factory=list)

    def material(self, tile: str, metres_per_tile: float, tint, kind: int = PLAIN,
                 window=(0.0, 0.0, 0.0, 0.0), glass=(0.0, 0.0, 0.0)) -> int:
        off = self.rng.uniform(0, TILE, 2)
        self.mats.append((self.atlas.index(tile), TILE / metres_per_tile, off,
                          np.asarray(tint, float), kind, window, np.asarray(glass, float)))
        return len(self.mats) - 1

    def box(self, x0, x1, y0, y1, z0, z1, mat: int) -> None:
        self.boxes.append((min(x0, x1), max(x0, x1), min(y0, y1), max(y0, y1),
                           min(z0, z1), max(z0, z1)))
        self.box_mat.append(mat)

    def cylinder(self, cx, cz, r, y0, y1, mat: int) -> None:
        self.cyls.append((cx, cz, r, min(y0, y1), max(y0, y1)))
        self.cyl_mat.append(mat)

    def freeze(self, road: Road, lighting: Lighting, camera: CameraPath, sky: int) -> Scene:
        m = self.mats
        mats = Materials(
            tile=np.array([r[0] for r in m], np.int32),
            scale=np.array([r[1] for r in m], np.float32),
            offset=np.array([r[2] for r in m], np.float32).reshape(-1, 2),
            tint=np.array([r[3] for r in m], np.float32).reshape(-1, 3),
            kind=np.array([r[4] for r in m], np.uint8),
            window=np.array([r[5] for r in m], np.float32).reshape(-1, 4),
            glass=np.array([r[6] for r in m], np.float32).reshape(-1, 3),
        )
        obj_mat = np.array([sky, road.materials[0]] + self.box_mat + self.cyl_mat, np.int32)
        return Scene(boxes=np.array(self.boxes, float).reshape(-1, 6),
                     cylinders=np.array(self.cyls, float).reshape(-1, 5),
                     obj_material=obj_mat, materials=mats, road=road, lighting=lighting,
                     camera=camera, sky_material=sky)


def _pastel(rng: np.random.Generator, lo: float = 0.55) -> np.ndarray:
    base = rng.uniform(lo, 1.0, 3)
    return 0.5 * base + 0.5 * base.mean() * rng.uniform(0.8, 1.15)


def _car_colour(rng: np.random.Generator) -> np.ndarray:
    r = rng.random()
    if r < 0.45:  # white, silver, grey, black
        return np.full(3, rng.choice([0.95, 0.75, 0.5, 0.2])) * rng.uniform(0.9, 1.05, 3)
    return rng.uniform(0.1, 1.0, 3) ** 1.5


def _facade_material(b: SceneBuilder) -> int:
    rng = b.rng
    if rng.random() < 0.15:  # a mural / poster wall, no windows
        return b.material(str(rng.choice(MURAL_TILES)), rng.uniform(5, 12), rng.uniform(0.8, 1, 3))
    tile = str(rng.choice(FACADE_TILES))
    window = (rng.uniform(2.2, 4.0), rng.uniform(2.8, 3.8), rng.uniform(0.3, 0.7),
              rng.uniform(0.35, 0.65))
    glass = rng.uniform(0.12, 0.35) * np.array([0.8, 0.9, 1.0]) * rng.uniform(0.85, 1.15, 3)
    return b.material(tile, rng.uniform(1.5, 6.0), _pastel(rng), FACADE, window, glass)


def _buildings(b: SceneBuilder, road: Road, z_lo: float, z_hi: float) -> None:
    rng = b.rng
    kerb = road.half_width + road.curb_width + road.sidewalk_width
    for side in (-1.0, 1.0):
        z = z_lo - rng.uniform(0, 20)
        while z < z_hi:
            if rng.random() < 0.22:  # alley / gap, often with a building further back
                gap = rng.uniform(3, 14)
                if rng.random() < 0.7:
                    x_near = side * (kerb + rng.uniform(8, 25))
                    b.box(x_near, x_near + side * rng.uniform(8, 20), -rng.uniform(5, 30), 0,
                          z - rng.uniform(0, 5), z + gap + rng.uniform(0, 5), _facade_material(b))
                z += gap
                continue
            length = rng.uniform(8, 35)
            x_near = side * (kerb + (0.0 if rng.random() < 0.4 else rng.uniform(0, 4)))
            height = float(np.exp(rng.uniform(np.log(4), np.log(30))))
            b.box(x_near, x_near + side * rng.uniform(8, 20), -height, 0, z, z + length,
                  _facade_material(b))
            z += length


def _far_wall(b: SceneBuilder, z: float) -> None:
    b.box(-250, 250, -b.rng.uniform(12, 40), 0, z, z + 3, _facade_material(b))


def _clear_of(cam: CameraPath, x: float, half_w: float) -> bool:
    """True if a box of half-width `half_w` at lateral `x` stays out of the camera's lane."""
    return abs(x - cam.x) > half_w + 1.3


def _car(b: SceneBuilder, x: float, z: float, heading_z: bool = True) -> float:
    """Place a car or van with centre-line x, rear at z; returns its length."""
    rng = b.rng
    paint = b.material("paint", rng.uniform(2, 5), _car_colour(rng))
    if rng.random() < 0.15:  # van / truck: one tall box
        length, width, height = rng.uniform(5, 7.5), rng.uniform(1.9, 2.4), rng.uniform(2.0, 3.2)
        b.box(x - width / 2, x + width / 2, -height, 0, z, z + length, paint)
        return length
    length, width = rng.uniform(3.8, 4.9), rng.uniform(1.65, 1.95)
    body = rng.uniform(0.8, 1.0)
    b.box(x - width / 2, x + width / 2, -body, 0, z, z + length, paint)
    glass = b.material("sky", rng.uniform(3, 6), rng.uniform(0.15, 0.35) * np.ones(3))
    front, rear = rng.uniform(0.8, 1.3), rng.uniform(0.4, 0.8)
    if not heading_z:
        front, rear = rear, front
    b.box(x - width / 2 + 0.1, x + width / 2 - 0.1, -body - rng.uniform(0.45, 0.6), -body,
          z + rear, z + length - front, glass)
    return length


def _cars(b: SceneBuilder, road: Road, cam: CameraPath, z_lo: float, z_hi: float) -> None:
    rng = b.rng
    for side in (-1.0, 1.0):  # parked along both kerbs
        z = z_lo + rng.uniform(0, 10)
        while z < z_hi - 20:
            if rng.random() < 0.55:
                x = side * (road.half_width - rng.uniform(1.05, 1.35))
                if _clear_of(cam, x, 1.0):
                    z += _car(b, x, z) + rng.uniform(1, 8)
                    continue
            z += rng.uniform(4, 20)
    for _ in range(rng.poisson(5)):  # stopped traffic in the other lanes
        x = rng.uniform(-road.half_width + 1.2, road.half_width - 1.2)
        if _clear_of(cam, x, 1.0):
            _car(b, x, rng.uniform(z_lo + 8, z_hi - 30), heading_z=x > 0)


def _poles(b: SceneBuilder, road: Road, z_lo: float, z_hi: float) -> None:
    rng = b.rng
    metal = b.material("noise", 2.0, rng.uniform(0.3, 0.6) * np.ones(3))
    for side in (-1.0, 1.0):
        z = z_lo + rng.uniform(0, 20)
        while z < z_hi:
            x = side * (road.half_width + road.curb_width + rng.uniform(0.3, 0.7))
            h = rng.uniform(3, 9)
            b.cylinder(x, z, rng.uniform(0.05, 0.14), -h, 0, metal)
            if rng.random() < 0.4:  # sign plate on top, facing the street
                w, sh = rng.uniform(0.5, 0.9), rng.uniform(0.4, 0.9)
                sign = b.material(str(rng.choice(MURAL_TILES)), rng.uniform(0.8, 2),
                                  rng.uniform(0.7, 1, 3))
                b.box(x - w / 2, x + w / 2, -h, -h + sh, z - 0.2, z - 0.16, sign)
            z += rng.uniform(12, 35)


def _trees(b: SceneBuilder, road: Road, z_lo: float, z_hi: float) -> None:
    rng = b.rng
    if rng.random() < 0.3:
        return
    bark = b.material("gravel", 1.0, np.array([0.45, 0.35, 0.25]) * rng.uniform(0.8, 1.2))
    leaves = b.material("grass", rng.uniform(1, 3), np.array([0.45, 0.75, 0.35]) *
                        rng.uniform(0.7, 1.1, 3))
    for side in (-1.0, 1.0):
        z = z_lo + rng.uniform(0, 25)
        while z < z_hi:
            x = side * (road.half_width + road.curb_width + road.sidewalk_width *
                        rng.uniform(0.45, 0.75))
            trunk = rng.uniform(2.2, 3.8)
            b.cylinder(x, z, rng.uniform(0.12, 0.25), -trunk, 0, bark)
            r = min(rng.uniform(1.0, 2.2), road.sidewalk_width + 0.8)
            b.cylinder(x, z, r, -trunk - rng.uniform(2, 4.5), -trunk + 0.3, leaves)
            z += rng.uniform(8, 30)


def _props(b: SceneBuilder, road: Road, cam: CameraPath, z_lo: float, z_hi: float) -> None:
    rng = b.rng
    for _ in range(rng.poisson(14)):
        side = rng.choice([-1.0, 1.0])
        sx, sz, sy = rng.uniform(0.4, 2.2), rng.uniform(0.4, 3.0), rng.uniform(0.4, 2.5)
        x = side * (road.half_width + road.curb_width + rng.uniform(0.3, road.sidewalk_width))
        z = rng.uniform(z_lo, z_hi)
        mat = b.material(str(rng.choice(PROP_TILES)), rng.uniform(1, 4), _pastel(rng, 0.3))
        b.box(x - sx / 2, x + sx / 2, -sy, 0, z, z + sz, mat)
    for _ in range(rng.poisson(3)):  # barriers / crates on the road, never in our lane
        x = rng.uniform(-road.half_width + 0.5, road.half_width - 0.5)
        sx = rng.uniform(0.4, 2.0)
        if _clear_of(cam, x, sx / 2):
            mat = b.material(str(rng.choice(PROP_TILES)), rng.uniform(1, 3), _pastel(rng, 0.4))
            z = rng.uniform(z_lo + 10, z_hi)
            b.box(x - sx / 2, x + sx / 2, -rng.uniform(0.4, 1.2), 0, z, z + rng.uniform(0.3, 2),
                  mat)


def _road(b: SceneBuilder) -> Road:
    rng = b.rng
    lanes = int(rng.integers(1, 3))  # lanes per direction
    lane_w = rng.uniform(3.0, 3.7)
    hw = lanes * lane_w + rng.uniform(0.3, 0.8)
    dashed = [0.0] if lanes == 1 else [-lane_w, lane_w]
    solid = [0.0] if lanes > 1 else []
    solid += [-(hw - 0.25), hw - 0.25]
    crossings = (float(rng.uniform(15, 80)),) if rng.random() < 0.35 else ()
    g = rng.uniform(0.28, 0.45)
    mats = (
        b.material("asphalt", rng.uniform(2.5, 4.5), g * rng.uniform(0.95, 1.05, 3)),
        b.material("concrete", 2.0, rng.uniform(0.65, 0.85) * np.ones(3)),
        b.material(str(rng.choice(["pavers", "concrete", "gravel", "brick_fine"])),
                   rng.uniform(1.5, 4.0), _pastel(rng, 0.5)),
        b.material(str(rng.choice(["grass", "gravel"])), rng.uniform(1.5, 4.0),
                   rng.uniform(0.6, 1.0, 3)),
    )
    return Road(half_width=hw, curb_width=0.25, sidewalk_width=rng.uniform(1.5, 4.5),
                dashed_lines=tuple(dashed), solid_lines=tuple(solid), crossings=crossings,
                materials=mats)


def _lighting(rng: np.random.Generator) -> Lighting:
    elev, azim = np.radians(rng.uniform(20, 65)), rng.uniform(0, 2 * np.pi)
    sun = np.array([np.cos(elev) * np.sin(azim), -np.sin(elev), np.cos(elev) * np.cos(azim)])
    overcast = rng.random()
    clear_h, clear_z = np.array([0.78, 0.85, 0.93]), np.array([0.32, 0.52, 0.86])
    grey_h, grey_z = np.array([0.82, 0.82, 0.84]), np.array([0.6, 0.62, 0.67])
    ambient = 0.4 + 0.25 * overcast
    return Lighting(sun=sun, ambient=ambient, diffuse=1.05 - ambient,
                    horizon=(1 - overcast) * clear_h + overcast * grey_h,
                    zenith=(1 - overcast) * clear_z + overcast * grey_z,
                    cloud=np.array([0.95, 0.95, 0.97]) * rng.uniform(0.85, 1.0),
                    cloud_amount=float(rng.uniform(0.0, 0.9)), fog_m=float(rng.uniform(250, 600)))


def build_scene(rng: np.random.Generator, atlas: Atlas, sequence_length: int,
                options: SceneOptions | None = None) -> Scene:
    """Draw one street and the camera path of a `sequence_length`-frame sequence through it."""
    opt = options or SceneOptions()
    b = SceneBuilder(atlas=atlas, rng=rng)
    sky = b.material("sky", 1.0, np.ones(3))  # texture coordinates come from the ray direction
    road = _road(b)
    lane = road.half_width - 1.6
    cam = CameraPath(x=float(rng.uniform(-lane, lane)), height=opt.camera_height_m,
                     yaw=float(np.radians(rng.uniform(-1, 1) * opt.max_yaw_deg)),
                     pitch=float(np.radians(rng.uniform(-1, 1) * opt.max_pitch_deg)),
                     speed=float(rng.uniform(*opt.speed_range_m)))
    travel = cam.speed * max(sequence_length - 1, 0)
    z_lo, z_hi = -10.0, travel + 260.0
    if rng.random() < opt.far_wall_probability:
        z_hi = travel + rng.uniform(90, 170)
        _far_wall(b, z_hi)
    if opt.buildings:
        _buildings(b, road, z_lo, z_hi)
    if opt.cars:
        _cars(b, road, cam, z_lo, z_hi)
    if opt.poles:
        _poles(b, road, z_lo, z_hi)
    if opt.trees:
        _trees(b, road, z_lo, z_hi)
    if opt.props:
        _props(b, road, cam, z_lo, z_hi)
    return b.freeze(road, _lighting(rng), cam, sky)
