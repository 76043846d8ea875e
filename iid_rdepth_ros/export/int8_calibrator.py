"""INT8 entropy calibrator (TensorRT ``IInt8EntropyCalibrator2``) fed with real frames."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from iid_rdepth_ros.artifacts.files import atomic_path
from iid_rdepth_ros.artifacts.lazy_import import lazy_import


def make_calibrator(feeds: list[dict[str, np.ndarray]], cache_path: Path) -> Any:
    """An ``IInt8EntropyCalibrator2`` over the network inputs of real frames; call on the
    CUDA thread."""
    trt = lazy_import("tensorrt", "INT8 calibration")
    cuda = lazy_import("pycuda.driver", "INT8 calibration")

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
            with atomic_path(cache_path) as tmp:
                tmp.write_bytes(memoryview(cache).tobytes())

    return _EntropyCalibrator()
