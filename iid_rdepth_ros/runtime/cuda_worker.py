"""One thread that owns a CUDA context: every CUDA / TensorRT call is submitted to it.

pycuda contexts are bound to the thread that pushed them; running all CUDA work on one
dedicated thread keeps callers (ROS executors, benchmark loops) free to use any thread.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from iid_rdepth_ros.artifacts.lazy_import import lazy_import

T = TypeVar("T")


class CudaWorker:
    """Single worker thread holding the device's primary CUDA context (via pycuda)."""

    def __init__(self, device_index: int = 0) -> None:
        self.device_index = device_index
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="iid-rdepth-cuda")
        self._context: Any = None
        try:
            self.call(self._enter)
        except BaseException:
            self._pool.shutdown(wait=True)
            raise

    def _enter(self) -> None:
        cuda = lazy_import("pycuda.driver", "the TensorRT backend")
        cuda.init()
        device = cuda.Device(self.device_index)
        self._context = device.retain_primary_context()
        self._context.push()

    def _exit(self) -> None:
        cuda = lazy_import("pycuda.driver")
        if self._context is not None:
            cuda.Context.pop()
            self._context.detach()
            self._context = None

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` on the CUDA thread and return its result (or raise)."""
        return self._pool.submit(fn, *args, **kwargs).result()

    def close(self) -> None:
        """Release the context on its own thread, then stop the thread."""
        try:
            self.call(self._exit)
        finally:
            self._pool.shutdown(wait=True)


def device_facts(device_index: int = 0) -> dict[str, str]:
    """Name and compute capability of a CUDA device (no context needed)."""
    cuda = lazy_import("pycuda.driver", "the TensorRT backend")
    cuda.init()
    device = cuda.Device(device_index)
    major, minor = device.compute_capability()
    return {"gpu_name": device.name(), "compute_capability": f"{major}.{minor}"}
