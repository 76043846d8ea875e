"""synth-street: rectified stereo scenes with exact depth and LiDAR-like ground truth.

- `SynthStreet(seed, height, width, sequence_length, config=..., camera=...).frame(i)`: one
  frame in memory; `config` picks the mode (`MODES`, default the original street data),
  `camera` (a `CameraOverride`) renders the same scenes through another camera.
- `generate(out_dir, frames, seed, ...)`: write a data set (format in docs/interfaces.md).
- `SynthStreetDataset(root)`: read one back (synth-street/1 and /2).
"""

from .cameras import CameraOverride, CameraRandomization, StereoCamera
from .config import MODES, SceneMix, SynthConfig, get_mode
from .dataset import SynthStreetDataset
from .generate import GenerateSummary, generate
from .photometric import PhotometricOptions, ViewPhotometry
from .scene import SceneOptions
from .street import BASELINE_M, SynthStreet, kitti_like_intrinsics
from .writer import FORMAT, FORMAT_V2

__all__ = ["BASELINE_M", "FORMAT", "FORMAT_V2", "MODES", "CameraOverride",
           "CameraRandomization", "GenerateSummary", "PhotometricOptions", "SceneMix",
           "SceneOptions", "StereoCamera", "SynthConfig", "SynthStreet", "SynthStreetDataset",
           "ViewPhotometry", "generate", "get_mode", "kitti_like_intrinsics"]
