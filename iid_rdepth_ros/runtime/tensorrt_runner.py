"""TensorRT 10/11 backend: deserialise a checked engine, run it with ``execute_async_v3``.

Uses the name-based tensor API (``num_io_tensors`` / ``get_tensor_name`` /
``set_tensor_address``), the same in TensorRT 10 and 11 (checked against the real bindings in
test/export/test_tensorrt_build_api.py), page-locked host buffers, device buffers and a stream
from pycuda, all created and used on one :class:`CudaWorker` thread that owns the CUDA
context. (NVIDIA's own samples have moved from pycuda to cuda-python's ``cuda.bindings``; the
calls used here have direct equivalents there.) The engine's precision is the graph's
(``export/precision.py``); its inputs and outputs are float32 either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from iid_rdepth_ros.artifacts.engine_sidecar import read_sidecar, sidecar_mismatches
from iid_rdepth_ros.artifacts.errors import RunnerError
from iid_rdepth_ros.artifacts.files import sha256_file
from iid_rdepth_ros.artifacts.lazy_import import lazy_import
from iid_rdepth_ros.runtime.base import Runner
from iid_rdepth_ros.runtime.config import RunnerConfig
from iid_rdepth_ros.runtime.cuda_worker import CudaWorker, device_facts
from iid_rdepth_ros.runtime.processing import NetworkInput


def current_environment(device_index: int = 0) -> dict[str, str]:
    """TensorRT version, GPU name and compute capability of this machine."""
    trt = lazy_import("tensorrt", "the TensorRT backend")
    return {"tensorrt_version": trt.__version__, **device_facts(device_index)}


def partner_engine(engine_path: Path, variant: str) -> Path:
    """``mono.fp16.engine`` -> ``stereo.fp16.engine`` (the other variant, same precision)."""
    name = engine_path.name
    other = "stereo" if variant == "mono" else "mono"
    if name.startswith(f"{variant}."):
        return engine_path.with_name(other + name[len(variant):])
    return engine_path.with_name(f"{other}.engine")


def check_engine(engine_path: Path, config: RunnerConfig, environment: dict[str, str],
                 variant: str | None = None) -> dict[str, Any]:
    """Read the engine's sidecar and refuse it (RunnerError saying what differs) if stale."""
    if not engine_path.is_file():
        raise RunnerError(f"TensorRT engine {engine_path} does not exist")
    try:
        sidecar = read_sidecar(engine_path)
    except ValueError as exc:
        raise RunnerError(str(exc)) from exc
    onnx_sha = None
    onnx_path = sidecar.get("onnx_path")
    if onnx_path and Path(onnx_path).is_file():
        onnx_sha = sha256_file(onnx_path)
    problems = sidecar_mismatches(
        sidecar, environment, onnx_sha256=onnx_sha, input_hw=(config.input_height,
                                                              config.input_width),
        steps=config.diffusion_steps, variant=variant, stereo_refine=config.stereo_refine,
        max_disparity=config.max_disparity)
    if problems:
        raise RunnerError(f"TensorRT engine {engine_path} does not match: "
                          + "; ".join(problems)
                          + ". Rebuild it with 'iid-rdepth build-engine --rebuild'.")
    return sidecar


@dataclass
class _Binding:
    name: str
    is_input: bool
    host: Any  # page-locked numpy array
    device: Any  # pycuda DeviceAllocation


class _EngineSession:
    """One deserialised engine with its buffers; lives on (and is called from) the CUDA thread."""

    def __init__(self, engine_path: Path) -> None:
        trt = lazy_import("tensorrt", "the TensorRT backend")
        cuda = lazy_import("pycuda.driver", "the TensorRT backend")
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self.engine = self._runtime.deserialize_cuda_engine(engine_path.read_bytes())
        if self.engine is None:
            raise RunnerError(f"TensorRT could not deserialise {engine_path} (corrupt file, or "
                              "built by another TensorRT version)")
        self.context = self.engine.create_execution_context()
        self.stream = cuda.Stream()
        self.bindings: dict[str, _Binding] = {}
        for index in range(self.engine.num_io_tensors):
            name = self.engine.get_tensor_name(index)
            shape = tuple(self.engine.get_tensor_shape(name))
            if any(dim < 0 for dim in shape):
                raise RunnerError(f"engine {engine_path} has a dynamic shape for '{name}'")
            dtype = np.dtype(trt.nptype(self.engine.get_tensor_dtype(name)))
            host = cuda.pagelocked_empty(shape, dtype)
            device = cuda.mem_alloc(max(host.nbytes, 1))
            self.context.set_tensor_address(name, int(device))
            is_input = self.engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
            self.bindings[name] = _Binding(name, is_input, host, device)
        outputs = sorted(b.name for b in self.bindings.values() if not b.is_input)
        if "depth" not in outputs:
            self.free()
            raise RunnerError(f"engine {engine_path} has no 'depth' output (outputs: "
                              f"{', '.join(outputs) or 'none'})")

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray | dict[str, np.ndarray]:
        """``depth``, or every output by name (``depth``, ``confidence``) when the engine has
        more than one (the geometry-first stereo graph)."""
        cuda = lazy_import("pycuda.driver")
        for binding in self.bindings.values():
            if binding.is_input:
                if binding.name not in feeds:
                    raise RunnerError(f"engine input '{binding.name}' was not provided")
                np.copyto(binding.host, feeds[binding.name].reshape(binding.host.shape),
                          casting="same_kind")
                cuda.memcpy_htod_async(binding.device, binding.host, self.stream)
        if not self.context.execute_async_v3(stream_handle=self.stream.handle):
            raise RunnerError("TensorRT execute_async_v3 failed")
        outputs = [b for b in self.bindings.values() if not b.is_input]
        for out in outputs:
            cuda.memcpy_dtoh_async(out.host, out.device, self.stream)
        self.stream.synchronize()
        arrays = {b.name: np.array(b.host, dtype=np.float32, copy=True) for b in outputs}
        return arrays["depth"] if len(arrays) == 1 else arrays

    def free(self) -> None:
        for binding in self.bindings.values():
            binding.device.free()
        self.bindings.clear()
        del self.context
        del self.engine


class TensorRTRunner(Runner):
    """Backend ``tensorrt``: ``config.engine_path`` names a ``.engine`` with a valid sidecar.

    The engine of the other variant (``mono.*`` / ``stereo.*`` beside it) is loaded too
    when present, so the same runner serves mono and stereo frames.
    """

    name = "tensorrt"

    def __init__(self, config: RunnerConfig, device_index: int = 0) -> None:
        super().__init__(config)
        self.device_index = device_index
        self._worker: CudaWorker | None = None
        self._sessions: dict[str, _EngineSession] = {}

    def _load(self) -> None:
        if not self.config.engine_path:
            raise RunnerError("the tensorrt backend needs engine_path (build one with "
                              "'iid-rdepth build-engine')")
        lazy_import("tensorrt", "the TensorRT backend")
        lazy_import("pycuda.driver", "the TensorRT backend")
        path = Path(self.config.engine_path).expanduser()
        environment = current_environment(self.device_index)
        sidecar = check_engine(path, self.config, environment)
        engines = {sidecar["variant"]: (path, sidecar)}
        other = partner_engine(path, sidecar["variant"])
        if other.is_file():
            partner = check_engine(other, self.config, environment)
            engines[partner["variant"]] = (other, partner)
        if "mono" not in engines:
            raise RunnerError(f"no mono engine found for {path} (expected {other})")
        self._worker = CudaWorker(self.device_index)
        try:
            for variant, (engine_path, _) in engines.items():
                self._sessions[variant] = self._worker.call(_EngineSession, engine_path)
        except BaseException:
            self._close()
            raise
        mono = engines["mono"][1]
        self.canonical_focal = float(mono["canonical_focal"])
        if "min_depth" in mono and "max_depth" in mono:
            self.depth_range = (float(mono["min_depth"]), float(mono["max_depth"]))
        self.steps = int(mono["steps"])
        self.has_stereo = "stereo" in self._sessions
        self.stereo_refined = bool(engines.get("stereo", (None, {}))[1].get("stereo_refine"))
        self._extra_info = {"precision": mono["precision"], **environment,
                            "engines": {v: str(p) for v, (p, _) in engines.items()}}

    def _forward(self, prepared: NetworkInput) -> np.ndarray | dict[str, np.ndarray]:
        assert self._worker is not None
        if prepared.stereo:
            feeds = {"image": prepared.image, "aux": prepared.aux, "fb": prepared.fb}
            return self._worker.call(self._sessions["stereo"].run, feeds)
        return self._worker.call(self._sessions["mono"].run, {"image": prepared.image})

    def _close(self) -> None:
        if self._worker is None:
            return
        try:
            for session in self._sessions.values():
                self._worker.call(session.free)
            self._sessions.clear()
        finally:
            self._worker.close()
            self._worker = None
