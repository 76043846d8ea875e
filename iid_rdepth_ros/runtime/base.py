"""The one runner interface every backend implements (load / infer / close)."""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from dataclasses import replace
from typing import Any

import numpy as np

from iid_rdepth_ros.artifacts.errors import RunnerError
from iid_rdepth_ros.runtime.config import Intrinsics, RunnerConfig
from iid_rdepth_ros.runtime.processing import NetworkInput, postprocess, preprocess


class Runner(ABC):
    """Base class: validation and pre/post-processing here, the forward pass in a backend.

    Subclasses implement :meth:`_load`, :meth:`_forward` and :meth:`_close`, and set
    ``canonical_focal`` and ``steps`` while loading. ``infer`` is thread-safe (serialised).
    """

    #: Backend name reported by :attr:`backend`.
    name: str = "base"

    def __init__(self, config: RunnerConfig) -> None:
        config.validate()
        self.config = config
        self.canonical_focal: float | None = None
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
    ) -> np.ndarray:
        """Depth in metres ``(H, W) float32`` (or network size), NaN where invalid.

        ``image``/``aux``: ``(H, W, 3) uint8`` RGB; ``aux`` needs ``baseline_m``.
        """
        if intrinsics is None:
            raise ValueError("intrinsics are required (focal length sets the metric scale)")
        if not self._loaded:
            raise RunnerError(f"{self.name} runner: call load() before infer()")
        prepared = preprocess(image, self.network_hw, intrinsics, aux, baseline_m,
                              self.canonical_focal)
        depth = self.infer_network(prepared)
        assert self.canonical_focal is not None
        return postprocess(
            depth, prepared, self.canonical_focal, self.config.min_depth, self.config.max_depth,
            output_resolution,
        )

    def infer_network(self, prepared: NetworkInput) -> np.ndarray:
        """Run only the network on prepared tensors; ``(h, w) float32`` at the canonical focal.

        A model without a stereo path (``has_stereo`` False) runs mono and ignores ``aux``.
        """
        if not self._loaded:
            raise RunnerError(f"{self.name} runner: call load() before infer()")
        if prepared.stereo and not self.has_stereo:  # e.g. a baseline model: no AV-LFE
            prepared = replace(prepared, aux=None, fb=None)
        with self._lock:
            start = time.perf_counter()
            depth = self._forward(prepared)
            self.last_latency_s = time.perf_counter() - start
        depth = np.asarray(depth, dtype=np.float32)
        return depth.reshape(depth.shape[-2:])

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
    def _forward(self, prepared: NetworkInput) -> np.ndarray:
        """Network depth for the prepared tensors (any shape ending in ``(h, w)``)."""

    @abstractmethod
    def _close(self) -> None:
        """Free resources."""
