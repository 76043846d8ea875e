"""The one runner interface every backend implements (load / infer / close)."""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from iid_rdepth_ros.artifacts.errors import RunnerError
from iid_rdepth_ros.runtime.config import Intrinsics, RunnerConfig
from iid_rdepth_ros.runtime.processing import (
    NetworkInput,
    mask_depth,
    postprocess,
    postprocess_confidence,
    preprocess,
)


@dataclass(frozen=True)
class DepthResult:
    """What one inference gives: metric depth and, where the model has one for this input (a
    stereo pair), a per-pixel confidence in [0, 1] at the same size (else None)."""

    depth: np.ndarray  # (H, W) float32 metres, NaN where invalid
    confidence: np.ndarray | None = None  # (H, W) float32 0..1, NaN where depth is invalid


class Runner(ABC):
    """Base class: validation and pre/post-processing here, the forward pass in a backend.

    Subclasses implement :meth:`_load`, :meth:`_forward` and :meth:`_close`, and set
    ``canonical_focal`` and ``steps`` while loading. ``infer`` is thread-safe (serialised).
    """

    #: Backend name reported by :attr:`backend`.
    name: str = "base"
    #: the loaded model runs at any network size (:meth:`set_network_size`); exported graphs
    #: and engines have one fixed size
    flexible_size: bool = False

    def __init__(self, config: RunnerConfig) -> None:
        config.validate()
        self.config = config
        self.canonical_focal: float | None = None
        self.depth_range: tuple[float, float] | None = None  # the model's, at canonical focal
        self.steps: int | None = None
        self.has_stereo = True
        self.stereo_refined = False  # the stereo path runs AV-LFE's stereo refinement
        self.last_latency_s: float | None = None
        self._loaded = False
        self._lock = threading.Lock()
        self._extra_info: dict[str, Any] = {}

    # -- public interface -------------------------------------------------------------------
    @property
    def backend(self) -> str:
        """Name of the backend actually used (``torch``, ``onnxruntime``, ``tensorrt``)."""
        return self.name

    @property
    def network_hw(self) -> tuple[int, int]:
        """Network input size ``(h, w)``."""
        return (self.config.input_height, self.config.input_width)

    def set_network_size(self, size_hw: tuple[int, int]) -> bool:
        """Run at another network input size from the next frame on, where the backend can
        (:attr:`flexible_size`); False (nothing changed) where it cannot."""
        h, w = (int(v) for v in size_hw)
        if (h, w) == self.network_hw:
            return True
        if not self.flexible_size:
            return False
        config = replace(self.config, input_height=h, input_width=w)
        config.validate()
        self.config = config
        return True

    @property
    def is_loaded(self) -> bool:
        """True between a successful :meth:`load` and :meth:`close`."""
        return self._loaded

    @property
    def info(self) -> dict[str, Any]:
        """Facts for diagnostics: backend, model, sizes, T, focal, last latency, backend extras."""
        return {
            "backend": self.backend,
            "model_path": self.config.model_path,
            "engine_path": self.config.engine_path,
            "network_hw": list(self.network_hw),
            "diffusion_steps": self.steps,
            "canonical_focal": self.canonical_focal,
            "depth_range": None if self.depth_range is None else list(self.depth_range),
            "stereo_capable": self.has_stereo,
            "stereo_refine": self.stereo_refined,
            "loaded": self._loaded,
            "last_latency_ms": None if self.last_latency_s is None else 1e3 * self.last_latency_s,
            **self._extra_info,
        }

    def load(self) -> None:
        """Load the model/engine; raises :class:`RunnerError` naming the file and the reason."""
        if self._loaded:
            return
        self._load()
        if self.canonical_focal is None or not self.canonical_focal > 0:
            raise RunnerError(f"{self.name}: the loaded model does not define canonical_focal")
        self._loaded = True

    def infer(
        self,
        image: np.ndarray,
        aux: np.ndarray | None = None,
        intrinsics: Intrinsics | None = None,
        baseline_m: float | None = None,
        output_resolution: str = "input",
        aux_intrinsics: Intrinsics | None = None,
    ) -> np.ndarray:
        """Depth in metres ``(H, W) float32`` (or network size), NaN where invalid.

        ``image``/``aux``: ``(H, W, 3) uint8`` RGB; ``aux`` needs ``baseline_m``;
        ``aux_intrinsics`` (the rectified aux camera's) corrects a principal-point offset
        between the two cameras (``processing`` module docstring).
        """
        return self.infer_full(image, aux, intrinsics, baseline_m, output_resolution,
                               aux_intrinsics).depth

    def infer_full(
        self,
        image: np.ndarray,
        aux: np.ndarray | None = None,
        intrinsics: Intrinsics | None = None,
        baseline_m: float | None = None,
        output_resolution: str = "input",
        aux_intrinsics: Intrinsics | None = None,
    ) -> DepthResult:
        """:meth:`infer` plus the model's stereo confidence where it has one."""
        if intrinsics is None:
            raise ValueError("intrinsics are required (focal length sets the metric scale)")
        if not self._loaded:
            raise RunnerError(f"{self.name} runner: call load() before infer()")
        prepared = preprocess(image, self.network_hw, intrinsics, aux, baseline_m,
                              self.canonical_focal, aux_intrinsics)
        outputs = self.infer_network_outputs(prepared)
        assert self.canonical_focal is not None
        lo, hi = self.valid_range(prepared.f_net)
        depth = postprocess(outputs["depth"], prepared, self.canonical_focal, lo, hi,
                            output_resolution)
        confidence = outputs.get("confidence")
        if confidence is not None:
            confidence = postprocess_confidence(confidence, prepared, depth)
        return self._confident(DepthResult(depth, confidence))

    def _confident(self, result: DepthResult) -> DepthResult:
        """``result`` with depth below ``config.min_confidence`` set to NaN (in place)."""
        if result.confidence is not None and self.config.min_confidence > 0:
            mask_depth(result.depth, result.confidence,
                       min_confidence=self.config.min_confidence)
        return result

    def valid_range(self, f_net: float) -> tuple[float, float]:
        """Metric depths kept for a camera of focal ``f_net`` (pixels at the network size):
        the configured bounds, else the model's range times ``f_net / canonical_focal``."""
        lo, hi = self.config.min_depth, self.config.max_depth
        if lo is not None and hi is not None:
            return lo, hi
        if self.depth_range is None or not self.canonical_focal:
            return lo or 0.0, hi or float("inf")
        scale = float(f_net) / float(self.canonical_focal)
        return (self.depth_range[0] * scale if lo is None else lo,
                self.depth_range[1] * scale if hi is None else hi)

    def infer_network(self, prepared: NetworkInput) -> np.ndarray:
        """Run only the network on prepared tensors; ``(h, w) float32`` at the canonical focal.

        A model without a stereo path (``has_stereo`` False) runs mono and ignores ``aux``.
        """
        return self.infer_network_outputs(prepared)["depth"]

    def infer_network_outputs(self, prepared: NetworkInput) -> dict[str, np.ndarray]:
        """The network's outputs by name, ``(h, w) float32`` each: ``depth`` (canonical focal)
        and, where the model gives one, ``confidence``."""
        if not self._loaded:
            raise RunnerError(f"{self.name} runner: call load() before infer()")
        if prepared.stereo and not self.has_stereo:  # e.g. a baseline model: no AV-LFE
            prepared = replace(prepared, aux=None, fb=None)
        with self._lock:
            start = time.perf_counter()
            raw = self._forward(prepared)
            self.last_latency_s = time.perf_counter() - start
        outputs = raw if isinstance(raw, dict) else {"depth": raw}
        return {name: np.asarray(value, dtype=np.float32).reshape(
            np.asarray(value).shape[-2:]) for name, value in outputs.items()}

    def close(self) -> None:
        """Release the model/engine and its memory; safe to call twice."""
        if self._loaded:
            self._close()
        self._loaded = False

    def __enter__(self) -> Runner:
        self.load()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.config.model_path!r}, loaded={self._loaded})"

    # -- backend hooks ----------------------------------------------------------------------
    @abstractmethod
    def _load(self) -> None:
        """Load; set ``canonical_focal`` and ``steps``; raise RunnerError on failure."""

    @abstractmethod
    def _forward(self, prepared: NetworkInput) -> np.ndarray | dict[str, np.ndarray]:
        """Network depth for the prepared tensors (any shape ending in ``(h, w)``), or a dict
        of outputs by name (``depth`` and, where the model gives one, ``confidence``)."""

    @abstractmethod
    def _close(self) -> None:
        """Free resources."""
