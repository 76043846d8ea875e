"""In-memory synth-street frames: `SynthStreet(seed, ...).frame(i)` renders one stereo frame.

Frame `i` belongs to sequence `i // sequence_length`; a sequence shares one random scene and
camera, and the camera moves along it (see `scene.CameraPath`), one frame per 100 ms. Everything
is a pure function of (seed, i): the scene from `SeedSequence(seed, spawn_key=(0, sequence))`,
the per-frame randomness (LiDAR phase, optional sensor noise) from `SeedSequence(seed,
spawn_key=(1, i))`, so frames can be rendered in any order or in parallel. With a `SynthConfig`
other than the default (see `config.py` for its random streams) a sequence also draws its scene
kind (street or near-range), its stereo camera and vertical misalignment, and each frame a
camera response per view; a `CameraOverride` renders the same scenes through another camera.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .cameras import (
    CAMERA_UNIFORMS,
    KITTI_BASELINE_M,
    KITTI_CX,
    KITTI_CY,
    KITTI_FX,
    KITTI_HEIGHT,
    KITTI_WIDTH,
    CameraOverride,
    StereoCamera,
    kitti_like_camera,
)
from .config import SynthConfig
from .lidar import (
    LidarPattern,
    beam_pixels,
    below_horizon,
    kitti_like_pattern,
    near_range_pattern,
    sample_lidar,
)
from .occlusion import occlusion_mask
from .photometric import VIEW_UNIFORMS, ViewPhotometry, apply
from .render import RayGrid, cast, make_rays
from .rooms import NEAR_MAX_DEPTH_M, build_near_scene
from .scene import Scene, SceneOptions, build_scene
from .shading import shade, sky_image
from .textures import get_atlas

BASELINE_M = KITTI_BASELINE_M
MAX_DEPTH_M = 250.0  # uint16 metres*256 tops out at 255.99 m
FRAME_PERIOD_NS = 100_000_000  # 10 Hz


def kitti_like_intrinsics(height: int, width: int) -> tuple[float, float, float, float]:
    """fx, fy, cx, cy of the KITTI colour camera scaled to `height` x `width`."""
    if height < 8 or width < 8:
        raise ValueError(f"image size must be at least 8x8, got {height}x{width}")
    fx = KITTI_FX * width / KITTI_WIDTH
    return fx, fx, KITTI_CX * width / KITTI_WIDTH, KITTI_CY * height / KITTI_HEIGHT


@dataclass(frozen=True)
class SequenceState:
    """What frames of one sequence share: the scene, its stereo camera, rays, sky and LiDAR."""

    scene: Scene
    rays: RayGrid
    sky: np.ndarray
    camera: StereoCamera
    rays_right: RayGrid  # differs from `rays` only with a right cx/cy offset or misalignment
    sky_right: np.ndarray
    lidar: LidarPattern
    lidar_rays: RayGrid  # the camera's rays in the LiDAR's level frame
    kind: str = "street"
    max_depth_m: float = MAX_DEPTH_M
    haze: bool = True


class SynthStreet:
    """Deterministic generator of rectified stereo frames with exact depth.

    `height`, `width` (and `fx, fy, cx, cy, baseline_m, k`) describe the fixed KITTI-like camera
    of the street mode; with randomised cameras each sequence has its own (`camera(sequence)`).
    `config` chooses the mode (default: the original street data), `camera` overrides parts of
    every sequence's camera.
    """

    def __init__(self, seed: int, height: int = 192, width: int = 640,
                 sequence_length: int = 20, options: SceneOptions | None = None,
                 noise_sigma: float = 0.0, lidar: LidarPattern | None = None, *,
                 config: SynthConfig | None = None, camera: CameraOverride | None = None) -> None:
        if not isinstance(seed, int | np.integer) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        if not isinstance(sequence_length, int | np.integer) or sequence_length < 1:
            raise ValueError(f"sequence_length must be a positive integer, got {sequence_length}")
        if noise_sigma < 0:
            raise ValueError(f"noise_sigma must be >= 0, got {noise_sigma}")
        self.seed = int(seed)
        self.height, self.width = int(height), int(width)
        self.fx, self.fy, self.cx, self.cy = kitti_like_intrinsics(self.height, self.width)
        self.baseline_m = BASELINE_M
        self.sequence_length = int(sequence_length)
        self.options = options or SceneOptions()
        self.noise_sigma = float(noise_sigma)
        self.config = config or SynthConfig()
        self.camera_override = camera
        self.legacy = self.config.is_legacy and camera is None
        self._lidar = lidar
        self.lidar = lidar or kitti_like_pattern(self.fx, self.fy)
        self.max_depth_m = MAX_DEPTH_M
        self._atlas = get_atlas()
        self._cache: dict[int, SequenceState] = {}

    @property
    def k(self) -> np.ndarray:
        """3x3 intrinsic matrix of both (rectified) cameras of the fixed street camera."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def _rng(self, *key: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence(self.config.entropy(self.seed),
                                                            spawn_key=key))

    def camera(self, sequence: int) -> StereoCamera:
        """The stereo camera of sequence number `sequence`."""
        return self.sequence(sequence).camera

    def sequence(self, sequence: int) -> SequenceState:
        """Scene, camera, rays and sky of sequence number `sequence` (the last two cached)."""
        if sequence in self._cache:
            return self._cache[sequence]
        seq = self._build_legacy(sequence) if self.legacy else self._build(sequence)
        if len(self._cache) >= 2:
            self._cache.pop(next(iter(self._cache)))
        self._cache[sequence] = seq
        return seq

    def _build_legacy(self, sequence: int) -> SequenceState:
        scene = build_scene(self._rng(0, sequence), self._atlas, self.sequence_length,
                            self.options)
        rays = make_rays(self.k, scene.camera.rotation(), self.height, self.width)
        sky = sky_image(scene, self._atlas, rays)
        cam = kitti_like_camera(self.height, self.width, self.baseline_m)
        return SequenceState(scene=scene, rays=rays, sky=sky, camera=cam, rays_right=rays,
                             sky_right=sky, lidar=self.lidar, lidar_rays=rays)

    def _build(self, sequence: int) -> SequenceState:
        cfg = self.config
        u_kind, u_height = self._rng(2, sequence).random(2)
        mix = cfg.choose(float(u_kind))
        scene_rng = self._rng(0, sequence)
        if mix.kind == "street":
            opts = self.options
            if cfg.street_camera_height_m is not None:
                lo, hi = cfg.street_camera_height_m
                opts = replace(opts, camera_height_m=float(lo + u_height * (hi - lo)))
            scene = build_scene(scene_rng, self._atlas, self.sequence_length, opts)
            max_depth, haze = MAX_DEPTH_M, True
        else:
            scene = build_near_scene(mix.kind, scene_rng, self._atlas, self.sequence_length)
            max_depth, haze = NEAR_MAX_DEPTH_M, False
        u_cam = self._rng(3, sequence).random(CAMERA_UNIFORMS + 1)
        override = self.camera_override or CameraOverride()
        if mix.cameras is not None:
            cam = mix.cameras.draw(u_cam[:CAMERA_UNIFORMS], override)
        else:
            cam = override.apply(kitti_like_camera(*(override.size or (self.height,
                                                                       self.width))))
        cam = replace(cam, dy_px=float((2 * u_cam[-1] - 1) * cfg.vertical_misalignment_px))
        r = scene.camera.rotation()
        rays = make_rays(cam.k, r, cam.height, cam.width)
        sky = sky_image(scene, self._atlas, rays)
        if np.array_equal(cam.k_right_true, cam.k):
            rays_right, sky_right = rays, sky
        else:
            rays_right = make_rays(cam.k_right_true, r, cam.height, cam.width)
            sky_right = sky_image(scene, self._atlas, rays_right)
        # Street: the LiDAR is level in the world (as in the original data). Near range: it turns
        # with the camera (a robot's sensor head), level but for the camera's pitch.
        lidar_rays = rays
        if mix.kind == "street":
            lidar = self._lidar or kitti_like_pattern(cam.fx, cam.fy)
        else:
            lidar = self._lidar or near_range_pattern(cam.fx, cam.fy)
            level = replace(scene.camera, yaw=0.0).rotation()
            lidar_rays = make_rays(cam.k, level, cam.height, cam.width)
        return SequenceState(scene=scene, rays=rays, sky=sky, camera=cam, rays_right=rays_right,
                             sky_right=sky_right, lidar=lidar, lidar_rays=lidar_rays,
                             kind=mix.kind, max_depth_m=max_depth, haze=haze)

    def render_view(self, index: int, right: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(rgb uint8, depth float32 with 0 = none) of the clean left or right view of frame
        `index` (before sensor noise and photometry)."""
        seq = self.sequence(index // self.sequence_length)
        path = seq.scene.camera
        k = index % self.sequence_length
        origin = path.position(k)
        rays, sky = seq.rays, seq.sky
        if right:
            origin = origin + seq.camera.baseline_m * path.rotation()[:, 0]
            rays, sky = seq.rays_right, seq.sky_right
        hits = cast(seq.scene, rays, origin, seq.max_depth_m)
        rgb = shade(seq.scene, self._atlas, rays, origin, hits, sky, seq.max_depth_m,
                    haze=seq.haze)
        depth = np.where(np.isfinite(hits.depth), hits.depth, np.float32(0)).astype(np.float32)
        return rgb, depth

    def photometry(self, index: int) -> tuple[ViewPhotometry, ViewPhotometry] | None:
        """The (left, right) camera responses of frame `index`, None without photometry."""
        opts = self.config.photometric
        if opts is None:
            return None
        rng = self._rng(4, index)
        u = rng.random(2 * VIEW_UNIFORMS)
        seeds = rng.integers(0, 2 ** 31, 2)
        return (opts.draw(u[:VIEW_UNIFORMS], int(seeds[0])),
                opts.draw(u[VIEW_UNIFORMS:], int(seeds[1])))

    def frame(self, index: int) -> dict:
        """Render frame `index`: both views, dense depth of each, sparse LiDAR, camera."""
        if not isinstance(index, int | np.integer) or index < 0:
            raise ValueError(f"frame index must be a non-negative integer, got {index!r}")
        index = int(index)
        seq_no, k = divmod(index, self.sequence_length)
        seq = self.sequence(seq_no)
        rng = self._rng(1, index)
        left, depth = self.render_view(index, right=False)
        right, depth_right = self.render_view(index, right=True)
        pixels = beam_pixels(seq.lidar, seq.lidar_rays, float(rng.random()))
        lidar = sample_lidar(depth, pixels, seq.lidar_rays, seq.lidar.max_range_m)
        if self.noise_sigma > 0:
            left, right = (np.clip(im + rng.normal(0, self.noise_sigma, im.shape) + 0.5, 0, 255)
                           .astype(np.uint8) for im in (left, right))
        photo = self.photometry(index)
        if photo is not None:
            left, right = apply(left, photo[0]), apply(right, photo[1])
        cam = seq.camera
        domain = below_horizon(seq.rays) if seq.kind == "street" else depth > 0
        occlusion = None if self.legacy else occlusion_mask(depth, depth_right, cam)
        return {
            "index": index, "sequence": seq_no, "frame_in_sequence": k,
            "stamp_ns": index * FRAME_PERIOD_NS,
            "left": left, "right": right, "depth": depth, "depth_right": depth_right,
            "lidar": lidar, "occlusion": occlusion,
            "fx": cam.fx, "fy": cam.fy, "cx": cam.cx, "cy": cam.cy,
            "baseline_m": cam.baseline_m, "k": cam.k,
            "pose_world_from_cam": seq.scene.camera.pose(k),
            "camera": cam, "scene_kind": seq.kind,
            "photometric": None if photo is None else {"left": photo[0], "right": photo[1]},
            "lidar_coverage": float((lidar > 0).sum()) / max(int(domain.sum()), 1),
        }
