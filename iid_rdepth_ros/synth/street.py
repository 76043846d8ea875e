"""In-memory synth-street frames: `SynthStreet(seed, ...).frame(i)` renders one stereo frame.

Frame `i` belongs to sequence `i // sequence_length`; a sequence shares one random street layout
and the camera moves forward along it (see `scene.CameraPath`), one frame per 100 ms. Everything is
a pure function of (seed, i): the street from `SeedSequence(seed, spawn_key=(0, sequence))`, the
per-frame randomness (LiDAR phase, optional sensor noise) from `SeedSequence(seed,
spawn_key=(1, i))`, so frames can be rendered in any order or in parallel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .lidar import LidarPattern, beam_pixels, kitti_like_pattern, sample_lidar
from .render import RayGrid, cast, make_rays
from .scene import Scene, SceneOptions, build_scene
from .shading import shade, sky_image
from .textures import get_atlas

KITTI_HEIGHT, KITTI_WIDTH = 375, 1242
KITTI_FX, KITTI_CX, KITTI_CY = 721.5377, 609.5593, 172.854
BASELINE_M = 0.54
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
    """What frames of one sequence share: the street, the rays of its camera, its sky."""

    scene: Scene
    rays: RayGrid
    sky: np.ndarray


class SynthStreet:
    """Deterministic generator of rectified stereo street frames with exact depth."""

    def __init__(self, seed: int, height: int = 192, width: int = 640,
                 sequence_length: int = 20, options: SceneOptions | None = None,
                 noise_sigma: float = 0.0, lidar: LidarPattern | None = None) -> None:
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
        self.lidar = lidar or kitti_like_pattern(self.fx, self.fy)
        self.max_depth_m = MAX_DEPTH_M
        self._atlas = get_atlas()
        self._cache: dict[int, SequenceState] = {}

    @property
    def k(self) -> np.ndarray:
        """3x3 intrinsic matrix of both (rectified) cameras."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def sequence(self, sequence: int) -> SequenceState:
        """Street layout, rays and sky of sequence number `sequence` (the last two cached)."""
        if sequence in self._cache:
            return self._cache[sequence]
        rng = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(0, sequence)))
        scene = build_scene(rng, self._atlas, self.sequence_length, self.options)
        rays = make_rays(self.k, scene.camera.rotation(), self.height, self.width)
        seq = SequenceState(scene=scene, rays=rays, sky=sky_image(scene, self._atlas, rays))
        if len(self._cache) >= 2:
            self._cache.pop(next(iter(self._cache)))
        self._cache[sequence] = seq
        return seq

    def render_view(self, index: int, right: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(rgb uint8, depth float32 with 0 = none) of the left or right view of frame `index`."""
        seq = self.sequence(index // self.sequence_length)
        cam = seq.scene.camera
        k = index % self.sequence_length
        origin = cam.position(k)
        if right:
            origin = origin + self.baseline_m * cam.rotation()[:, 0]
        hits = cast(seq.scene, seq.rays, origin, self.max_depth_m)
        rgb = shade(seq.scene, self._atlas, seq.rays, origin, hits, seq.sky, self.max_depth_m)
        depth = np.where(np.isfinite(hits.depth), hits.depth, np.float32(0)).astype(np.float32)
        return rgb, depth

    def frame(self, index: int) -> dict:
        """Render frame `index`: both views, dense depth of each, sparse LiDAR, camera."""
        if not isinstance(index, int | np.integer) or index < 0:
            raise ValueError(f"frame index must be a non-negative integer, got {index!r}")
        index = int(index)
        seq_no, k = divmod(index, self.sequence_length)
        seq = self.sequence(seq_no)
        rng = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(1, index)))
        left, depth = self.render_view(index, right=False)
        right, depth_right = self.render_view(index, right=True)
        pixels = beam_pixels(self.lidar, seq.rays, float(rng.random()))
        lidar = sample_lidar(depth, pixels, seq.rays, self.lidar.max_range_m)
        if self.noise_sigma > 0:
            left, right = (np.clip(im + rng.normal(0, self.noise_sigma, im.shape) + 0.5, 0, 255)
                           .astype(np.uint8) for im in (left, right))
        return {
            "index": index, "sequence": seq_no, "frame_in_sequence": k,
            "stamp_ns": index * FRAME_PERIOD_NS,
            "left": left, "right": right, "depth": depth, "depth_right": depth_right,
            "lidar": lidar,
            "fx": self.fx, "fy": self.fy, "cx": self.cx, "cy": self.cy,
            "baseline_m": self.baseline_m, "k": self.k,
            "pose_world_from_cam": seq.scene.camera.pose(k),
        }
