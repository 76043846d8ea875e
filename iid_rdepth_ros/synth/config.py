"""What a synth-street data set contains: scene kinds, cameras, photometry; named modes.

`SynthConfig()` is the original street mode (KITTI-like camera, street scenes, identical views):
its frames and files are byte-identical to what synth-street always produced for a seed. The
other modes (`MODES`) draw, per sequence, a scene kind and a stereo camera, and per frame a
camera response for each view. Each mode has its own `seed_salt`, so its scenes never coincide
with another mode's for any seed: a test split can never repeat a training scene.

Random streams (numpy `SeedSequence(entropy, spawn_key=...)`, entropy = `seed` for salt 0, else
`[seed, salt]`): (0, sequence) scene geometry, (1, frame) LiDAR phase and legacy sensor noise,
(2, sequence) scene kind and street camera height, (3, sequence) camera and vertical
misalignment, (4, frame) photometry. A camera override therefore leaves the scene, its camera
path and the photometry unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .cameras import CameraRandomization
from .photometric import PhotometricOptions
from .rooms import NEAR_KINDS

SCENE_KINDS = ("street",) + NEAR_KINDS


@dataclass(frozen=True)
class SceneMix:
    """One scene kind in a mode's mix: relative weight and its cameras (None = the fixed
    KITTI-like camera at the generator's height x width)."""

    kind: str
    weight: float = 1.0
    cameras: CameraRandomization | None = None

    def __post_init__(self) -> None:
        if self.kind not in SCENE_KINDS:
            raise ValueError(f"unknown scene kind {self.kind!r}; choose from {SCENE_KINDS}")
        if not self.weight > 0:
            raise ValueError(f"scene weight must be > 0, got {self.weight}")


@dataclass(frozen=True)
class SynthConfig:
    """Generator options beyond size and seed (see the module docstring)."""

    scenes: tuple[SceneMix, ...] = (SceneMix("street"),)
    photometric: PhotometricOptions | None = None
    vertical_misalignment_px: float = 0.0  # max |dy| of the right view, uniform per sequence
    street_camera_height_m: tuple[float, float] | None = None  # None: SceneOptions' 1.65 m
    seed_salt: int = 0
    name: str = "street"

    def __post_init__(self) -> None:
        if not self.scenes:
            raise ValueError("a synth config needs at least one scene kind")
        if not 0 <= self.vertical_misalignment_px <= 5:
            raise ValueError("vertical_misalignment_px must be in [0, 5] px, got "
                             f"{self.vertical_misalignment_px}")
        if self.street_camera_height_m is not None:
            lo, hi = self.street_camera_height_m
            if not 0.1 <= lo <= hi:
                raise ValueError(f"street_camera_height_m must be 0.1 <= lo <= hi, got "
                                 f"{(lo, hi)}")
        if self.seed_salt < 0:
            raise ValueError(f"seed_salt must be >= 0, got {self.seed_salt}")

    @property
    def is_legacy(self) -> bool:
        """True for the original street mode (format synth-street/1, identical bytes)."""
        return (self.scenes == (SceneMix("street"),) and self.photometric is None
                and self.vertical_misalignment_px == 0 and self.street_camera_height_m is None
                and self.seed_salt == 0)

    def entropy(self, seed: int) -> int | list[int]:
        """SeedSequence entropy of `seed` in this mode."""
        return int(seed) if self.seed_salt == 0 else [int(seed), int(self.seed_salt)]

    def choose(self, u: float) -> SceneMix:
        """The scene kind for a uniform `u` in [0, 1), by weight."""
        w = np.cumsum([s.weight for s in self.scenes])
        return self.scenes[min(int(np.searchsorted(w / w[-1], u, side="right")),
                               len(self.scenes) - 1)]

    def to_json(self) -> dict:
        """JSON-able description (written to meta.json of synth-street/2 data sets)."""
        return {"name": self.name, "seed_salt": self.seed_salt,
                "scenes": [{"kind": s.kind, "weight": s.weight,
                            "cameras": None if s.cameras is None else s.cameras.to_json()}
                           for s in self.scenes],
                "photometric": None if self.photometric is None else self.photometric.to_json(),
                "vertical_misalignment_px": self.vertical_misalignment_px,
                "street_camera_height_m": (None if self.street_camera_height_m is None
                                           else list(self.street_camera_height_m))}


#: street cameras: the full focal and baseline ranges of the issue
STREET_CAMERAS = CameraRandomization()
#: near-range cameras: same focal lengths and sizes, baselines of indoor rigs (5-25 cm), so the
#: disparity at 0.3 m stays within what a matcher can search
NEAR_CAMERAS = CameraRandomization(baseline_m=(0.05, 0.25))

_GEOMETRY_MIX = (SceneMix("street", 0.4, STREET_CAMERAS), SceneMix("room", 0.25, NEAR_CAMERAS),
                 SceneMix("corridor", 0.15, NEAR_CAMERAS),
                 SceneMix("floating", 0.2, NEAR_CAMERAS))
_NEAR_MIX = _GEOMETRY_MIX[1:]

GEOMETRY = SynthConfig(scenes=_GEOMETRY_MIX, photometric=PhotometricOptions(),
                       vertical_misalignment_px=0.5, street_camera_height_m=(0.8, 2.0),
                       seed_salt=1, name="geometry")

#: Named modes of `iid-rdepth synth --mode`: `street` (the original data), `geometry` (the
#: training mix: street and near-range scenes, random cameras, photometric differences, sub-pixel
#: vertical misalignment), and the held-out test splits `test-mixed` (same mix) and `test-near`
#: (near-range only), each with its own seed salt so they never share a scene with training.
MODES: dict[str, SynthConfig] = {
    "street": SynthConfig(),
    "geometry": GEOMETRY,
    "test-mixed": replace(GEOMETRY, seed_salt=2, name="test-mixed"),
    "test-near": replace(GEOMETRY, scenes=_NEAR_MIX, seed_salt=3, name="test-near"),
}


def get_mode(name: str) -> SynthConfig:
    """The config of mode `name` (ValueError naming the modes if unknown)."""
    try:
        return MODES[name]
    except KeyError:
        raise ValueError(f"unknown synth mode {name!r}; choose from {', '.join(MODES)}") from None

