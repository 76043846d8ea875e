"""Runner configuration (plain dataclasses, no heavy imports); ``Intrinsics`` comes from
``geometry.camera``."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from iid_rdepth_ros.geometry.camera import Intrinsics
from iid_rdepth_ros.model.config import check_input_size, check_max_disparity, check_steps

Backend = Literal["auto", "tensorrt", "onnxruntime", "torch"]
__all__ = ["BACKENDS", "OUTPUT_RESOLUTIONS", "Backend", "Intrinsics", "RunnerConfig"]

BACKENDS: tuple[str, ...] = ("auto", "tensorrt", "onnxruntime", "torch")
OUTPUT_RESOLUTIONS: tuple[str, ...] = ("input", "network")
CUDA_GRAPHS: tuple[str, ...] = ("auto", "off", "capture", "compile")
AUTOCAST: tuple[str, ...] = ("off", "fp16", "bf16")
DEVICE_PROCESSING: tuple[str, ...] = ("auto", "on", "off")
ORT_PROVIDERS: tuple[str, ...] = ("auto", "cpu", "cuda", "tensorrt")


@dataclass
class RunnerConfig:
    """What to run and how; mirrors the node parameters of the same names (DESIGN.md §5).

    ``model_path``: checkpoint name (``default``, ``baseline``) or path (``.safetensors``), or an
    exported ``.onnx`` (onnxruntime only). ``engine_path``: a TensorRT ``.engine`` (tensorrt only).
    ``diffusion_steps``: T; ``None`` = the checkpoint's default. ``device``: ``auto`` (GPU where
    usable), ``cpu``, or a torch device such as ``cuda:0``; ``num_threads``: CPU threads for
    torch / onnxruntime (``None`` = all cores). ``cache_dir``: where onnxruntime keeps graphs
    it exports from a checkpoint (``None``: beside the checkpoint, else the user cache).
    ``stereo_refine``: run AV-LFE's full-resolution stereo refinement where the checkpoint
    has it (``avlfe.refine``); ``False`` leaves it out of the stereo path (about 40 % less
    stereo latency on 2 CPU cores, less accurate: see README). For an ``.onnx`` graph or a
    TensorRT engine the export decides (``iid-rdepth export --no-stereo-refine``); asking for
    ``False`` with a graph that has it is an error.
    ``min_depth`` / ``max_depth``: depths outside become NaN; ``None`` (default) = the model's
    own range (its config's ``min_depth``/``max_depth``, at the canonical focal) at this
    camera's focal, ``range * f_net / canonical_focal``: everything the model can give.
    ``spin_wait``: onnxruntime's intra-op threads spin between operators (fastest when the
    runner has the cores to itself; the node turns it off, as its process shares the cores
    with DDS and the executor, see benchmarks/README.md).

    GPU (torch backend on CUDA, ``runtime/cuda_graphs.py``): ``cuda_graphs`` ``auto`` (=
    ``capture`` on CUDA: the whole frame, pre/post-processing included, recorded once per
    camera size as a CUDA graph and replayed), ``compile`` (``torch.compile`` with
    ``mode="reduce-overhead"``: fastest per frame, tens of seconds to compile the first
    frame of each size) or ``off``; ``autocast`` ``off`` | ``fp16`` | ``bf16``;
    ``device_processing`` ``auto`` (on for CUDA) | ``on`` | ``off``: pre/post-processing as
    torch ops on the model's device instead of numpy/OpenCV on the host.
    ``ort_provider``: ONNX Runtime execution provider, ``auto`` (CUDA where the installed
    onnxruntime has it and ``device`` is not ``cpu``), ``cpu``, ``cuda``, ``tensorrt`` (the
    last two must be installed: ``onnxruntime-gpu``; else ``load`` fails saying so).
    ``min_confidence``: depth whose stereo confidence (``DepthResult.confidence``) is below
    it becomes NaN; 0 (default) keeps all. Frames without a confidence (mono) are unchanged.
    ``max_disparity``: the geometry-first stereo matcher's search range ``0..max_disparity``
    in network-input pixels (a multiple of 8, 8..1024); None (default) = the checkpoint's.
    A checkpoint is built (torch) or exported (onnxruntime) with it; a given graph or engine
    must have been exported with it (``iid-rdepth export --max-disparity``).
    """

    backend: Backend = "auto"
    model_path: str = "default"
    engine_path: str | None = None
    input_height: int = 192
    input_width: int = 640
    diffusion_steps: int | None = None
    min_depth: float | None = None
    max_depth: float | None = None
    device: str = "auto"
    num_threads: int | None = None
    cache_dir: str | None = None
    spin_wait: bool = True
    stereo_refine: bool = True
    cuda_graphs: str = "auto"
    autocast: str = "off"
    device_processing: str = "auto"
    ort_provider: str = "auto"
    min_confidence: float = 0.0
    max_disparity: int | None = None
    extra: dict[str, object] = field(default_factory=dict)

    def validate(self) -> None:
        """Raise ValueError naming the first bad field."""
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        check_input_size(self.input_height, self.input_width, "network input")
        if self.diffusion_steps is not None:
            check_steps(self.diffusion_steps, "diffusion_steps (or None)")
        if self.min_depth is not None and not (math.isfinite(self.min_depth)
                                               and self.min_depth > 0):
            raise ValueError(f"min_depth must be finite and > 0, got {self.min_depth!r}")
        if self.max_depth is not None and not (
                math.isfinite(self.max_depth) and self.max_depth > (self.min_depth or 0.0)):
            raise ValueError(
                f"max_depth must be finite and > min_depth ({self.min_depth}), "
                f"got {self.max_depth!r}"
            )
        for name, allowed in (("cuda_graphs", CUDA_GRAPHS), ("autocast", AUTOCAST),
                              ("device_processing", DEVICE_PROCESSING),
                              ("ort_provider", ORT_PROVIDERS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, "
                                 f"got {getattr(self, name)!r}")
        if self.device == "cpu" and self.ort_provider in ("cuda", "tensorrt"):
            raise ValueError(f"ort_provider {self.ort_provider!r} runs on a GPU, but device "
                             "is 'cpu'")
        if isinstance(self.min_confidence, bool) or not (
                isinstance(self.min_confidence, (int, float))
                and 0.0 <= self.min_confidence <= 1.0):
            raise ValueError(f"min_confidence must be a number in [0, 1], got "
                             f"{self.min_confidence!r}")
        if self.max_disparity is not None:
            check_max_disparity(self.max_disparity, "max_disparity (or None)")
        if self.num_threads is not None and self.num_threads < 1:
            raise ValueError(f"num_threads must be None or >= 1, got {self.num_threads!r}")
