"""synth-street: rectified stereo street scenes with exact depth and LiDAR-like ground truth.

- `SynthStreet(seed, height, width, sequence_length).frame(i)`: one frame in memory.
- `generate(out_dir, frames, seed, ...)`: write a data set (format in docs/interfaces.md).
- `SynthStreetDataset(root)`: read one back.
"""

from .dataset import SynthStreetDataset
from .generate import GenerateSummary, generate
from .scene import SceneOptions
from .street import BASELINE_M, SynthStreet, kitti_like_intrinsics
from .writer import FORMAT

__all__ = ["BASELINE_M", "FORMAT", "GenerateSummary", "SceneOptions", "SynthStreet",
           "SynthStreetDataset", "generate", "kitti_like_intrinsics"]
