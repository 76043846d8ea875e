"""PyTorch backend: the checkpoint's model in eval mode under ``torch.inference_mode``.

On a CUDA device the whole frame runs there (``runtime/cuda_graphs.py``): pre/post-processing
as torch ops (``runtime/device_processing.py``), pinned host buffers, one stream, and one CUDA
graph per camera size (``cuda_graphs``: ``auto``/``capture``, ``compile`` for
``torch.compile(mode="reduce-overhead")``, ``off``), optionally under fp16/bf16 autocast
(``autocast``). On the CPU the shared numpy pre/post-processing runs, unless
``device_processing="on"`` asks for the device path there too.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from iid_rdepth_ros.artifacts.errors import RunnerError
from iid_rdepth_ros.artifacts.lazy_import import lazy_import
from iid_rdepth_ros.runtime.base import DepthResult, Runner
from iid_rdepth_ros.runtime.config import Intrinsics, RunnerConfig
from iid_rdepth_ros.runtime.processing import NetworkInput


class TorchRunner(Runner):
    """Backend ``torch``: ``model_path`` is a checkpoint name (``default``) or path."""

    name = "torch"
    flexible_size = True  # the network is fully convolutional; any multiple of 32 runs

    def __init__(self, config: RunnerConfig) -> None:
        super().__init__(config)
        self._model = None
        self._device = "cpu"
        self._pipeline: Any = None

    def _load(self) -> None:
        torch = lazy_import("torch", "the torch backend")
        from iid_rdepth_ros.model.checkpoint import load_model
        from iid_rdepth_ros.runtime.cuda_graphs import (
            DevicePipeline,
            autocast_dtype,
            resolve_graph_mode,
        )

        if str(self.config.model_path).endswith(".onnx"):
            raise RunnerError(f"the torch backend needs a checkpoint, not an ONNX graph "
                              f"({self.config.model_path}); use backend onnxruntime")
        device = self.config.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise RunnerError(f"device {device!r}: this torch has no usable CUDA device")
        device_type = torch.device(device).type
        mode = resolve_graph_mode(self.config.cuda_graphs, device_type)
        autocast = autocast_dtype(self.config.autocast, device_type)
        if self.config.num_threads:
            torch.set_num_threads(self.config.num_threads)
        try:
            model, model_config, info = load_model(self.config.model_path,
                                                   steps=self.config.diffusion_steps,
                                                   stereo_refine=self.config.stereo_refine,
                                                   max_disparity=self.config.max_disparity)
        except (ValueError, OSError, KeyError) as exc:
            raise RunnerError(f"cannot load checkpoint {self.config.model_path}: {exc}") from exc
        try:
            self._model = model.for_export().to(device)
        except RuntimeError as exc:
            raise RunnerError(f"cannot move the model to {device}: {exc}") from exc
        self._device = device
        self.canonical_focal = float(model_config.canonical_focal)
        self.depth_range = (float(model_config.min_depth), float(model_config.max_depth))
        self.steps = model_config.diffusion.steps
        self.has_stereo = bool(getattr(self._model, "has_stereo", False))
        self.stereo_refined = getattr(self._model, "refiner", None) is not None
        on_device = self.config.device_processing
        if on_device == "auto":
            on_device = "on" if device_type == "cuda" else "off"
        if on_device == "on" or mode != "off" or autocast is not None:
            if device_type == "cuda":
                torch.backends.cudnn.benchmark = True  # fixed shapes: pick the fastest convs
            # bounds left to the model (None) keep everything it gives: its bins lie in its
            # range, so range * f_net / canonical_focal never clips (Runner.valid_range)
            lo, hi = self.config.min_depth, self.config.max_depth
            self._pipeline = DevicePipeline(
                self._model, torch.device(device), mode, autocast, self.network_hw,
                self.canonical_focal, 0.0 if lo is None else lo,
                float("inf") if hi is None else hi)
        self._extra_info = {"device": device, "threads": torch.get_num_threads(),
                            "device_processing": self._pipeline is not None,
                            "model_variant": getattr(model, "variant", None), **info}

    @property
    def info(self) -> dict[str, Any]:
        extra = self._pipeline.info if self._pipeline is not None else {"cuda_graphs": "off"}
        return {**super().info, **extra}

    def infer_full(self, image: np.ndarray, aux: np.ndarray | None = None,
                   intrinsics: Intrinsics | None = None, baseline_m: float | None = None,
                   output_resolution: str = "input",
                   aux_intrinsics: Intrinsics | None = None) -> DepthResult:
        """:meth:`Runner.infer_full`; on the device path the whole frame runs there. A stereo
        frame whose aux image must be shifted onto the main principal point (not done on the
        device yet) takes the host path."""
        if self._pipeline is None or not self._device_path_covers(image, aux, intrinsics,
                                                                  aux_intrinsics):
            return super().infer_full(image, aux, intrinsics, baseline_m, output_resolution,
                                      aux_intrinsics)
        from iid_rdepth_ros.runtime.device_processing import check_frame

        if intrinsics is None:
            raise ValueError("intrinsics are required (focal length sets the metric scale)")
        if not self._loaded:
            raise RunnerError(f"{self.name} runner: call load() before infer()")
        if aux is not None and not self.has_stereo:
            aux = None  # no AV-LFE: the frame runs mono (as Runner.infer_network_outputs)
        assert self.canonical_focal is not None
        frame = check_frame(image, self.network_hw, intrinsics, aux, baseline_m,
                            self.canonical_focal, output_resolution)
        with self._lock:
            start = time.perf_counter()
            depth, confidence = self._pipeline.camera_to_depth(
                image, aux, frame.f_net / self.canonical_focal, frame.fb, output_resolution)
            self.last_latency_s = time.perf_counter() - start
        return self._confident(DepthResult(depth, confidence))

    def _device_path_covers(self, image: np.ndarray, aux: np.ndarray | None,
                            intrinsics: Intrinsics | None,
                            aux_intrinsics: Intrinsics | None) -> bool:
        from iid_rdepth_ros.runtime.processing import aux_shift

        return (aux is None or aux_intrinsics is None or intrinsics is None
                or aux_shift(intrinsics, aux_intrinsics) == (0.0, 0.0))

    def _forward(self, prepared: NetworkInput) -> np.ndarray:
        if self._pipeline is not None:
            return self._pipeline.network(prepared.image, prepared.aux, prepared.fb)
        torch = lazy_import("torch")
        assert self._model is not None
        with torch.inference_mode():
            image = torch.from_numpy(prepared.image).to(self._device)
            aux = fb = None
            if prepared.stereo:
                aux = torch.from_numpy(prepared.aux).to(self._device)
                fb = torch.from_numpy(prepared.fb).to(self._device)
            depth, confidence = self._model.forward_outputs(image, aux=aux, fb=fb)
            if confidence is None:
                return depth.float().cpu().numpy()
            return {"depth": depth.float().cpu().numpy(),
                    "confidence": confidence.float().cpu().numpy()}

    def _close(self) -> None:
        if self._pipeline is not None:
            self._pipeline.close()
        self._pipeline = None
        self._model = None
