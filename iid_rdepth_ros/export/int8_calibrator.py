"""INT8 entropy calibrator (TensorRT ``IInt8EntropyCalibrator2``) fed with real frames."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from iid_rdepth_ros.artifacts.lazy_import import lazy_import
from iid_rdepth_ros.bench.frames import network_feeds, synth_frames


def calibration_feeds(calib_dir: Path, meta: dict[str, Any], count: int
                      ) -> list[dict[str, np.ndarray]]:
    """Network inputs (``image`` [+ ``aux``, ``fb``]) for ``count`` frames of a synth dir."""
    stereo = meta["variant"] == "stereo"
    frames = synth_frames(calib_dir, count, stereo=stereo)
    if not frames:
        raise ValueError(f"no frames found in calibration directory {calib_dir}")
    hw = (int(meta["height"]), int(meta["width"]))
    return [network_feeds(frame, hw, float(meta["canonical_focal"])) for frame in frames]


def make_calibrator(calib_dir: Path, meta: dict[str, Any], count: int, cache_path: Path) -> Any:
    """An ``IInt8EntropyCalibrator2`` over real frames; call on the CUDA thread."""
    trt = lazy_import("tensorrt", "INT8 calibration")
    cuda = lazy_import("pycuda.driver", "INT8 calibration")
    feeds = calibration_feeds(calib_dir, meta, count)

    class _EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        """Hands TensorRT one frame per batch from device buffers it owns."""

        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            self._next = 0
            self._device: dict[str, Any] = {}

        def get_batch_size(self) -> int:
            return 1

        def get_batch(self, names: list[str]) -> list[int] | None:
            if self._next >= len(feeds):
                return None
            batch = feeds[self._next]
            self._next += 1
            pointers = []
            for name in names:
                array = np.ascontiguousarray(batch[name], dtype=np.float32)
                if name not in self._device:
                    self._device[name] = cuda.mem_alloc(array.nbytes)
                cuda.memcpy_htod(self._device[name], array)
                pointers.append(int(self._device[name]))
            return pointers

        def read_calibration_cache(self) -> bytes | None:
            return cache_path.read_bytes() if cache_path.is_file() else None

        def write_calibration_cache(self, cache: Any) -> None:
            cache_path.parent.mkdir(parents=True, exist_ok=True)
            cache_path.write_bytes(memoryview(cache).tobytes())

    return _EntropyCalibrator()
