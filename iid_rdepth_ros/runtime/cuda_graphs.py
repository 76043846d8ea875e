"""The torch backend's device path: camera image to depth on the device, one CUDA graph per
input size.

At batch 1 the network is launch-bound on a GPU: an H200 runs its ~1000 small kernels in far
less time than Python takes to launch them (eager 13.5 ms mono, with torch.compile's CUDA
graphs 2.6 ms). So the whole frame (uint8 image in, pre-processing, network, post-processing,
depth out; ``runtime/device_processing.py``) is one function of static device buffers that is

- ``capture``: recorded once per (camera size, mono/stereo, output size) with
  ``torch.cuda.graph`` and replayed (capture takes a few warm-up runs: well under a second);
- ``compile``: ``torch.compile(mode="reduce-overhead")`` (Inductor fuses the element-wise ops,
  then records CUDA graphs per shape itself): fastest per frame, but the first frame of each
  size compiles for tens of seconds (Inductor's on-disk cache shortens later starts); its
  CUDA graphs belong to the thread that records them, so all its work runs on one thread;
- ``off``: the same function run eagerly (still no host pre/post-processing).

A frame then costs: copy the image into a pinned host buffer, one host-to-device copy of the
uint8 pixels and of two scalars (focal rescale, ``fb``), the replay, one device-to-host copy of
the depth, all on the runner's own stream, then one synchronisation. The network must be
capture-clean (no host<->device copies or syncs in ``forward``:
test/model/test_iid_rdepth_capture.py). A capture that fails falls back to eager and says why
(``info``). Graphs are kept for the most recent ``max_graphs`` keys.

On the CPU the same code runs eagerly without pinned memory (``device_processing`` on): what
the tests exercise here.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from iid_rdepth_ros.artifacts.errors import RunnerError
from iid_rdepth_ros.artifacts.lazy_import import lazy_import
from iid_rdepth_ros.runtime.config import AUTOCAST, CUDA_GRAPHS
from iid_rdepth_ros.runtime.device_processing import DeviceProcessing

if TYPE_CHECKING:
    import torch

#: warm-up runs before a capture (cuDNN picks its algorithms, lazy inits happen)
WARMUP = 3


def resolve_graph_mode(mode: str, device_type: str) -> str:
    """``auto`` -> ``capture`` on CUDA, ``off`` elsewhere; CUDA-only modes elsewhere are a
    RunnerError."""
    if mode not in CUDA_GRAPHS:
        raise RunnerError(f"cuda_graphs must be one of {', '.join(CUDA_GRAPHS)}, got {mode!r}")
    if mode == "auto":
        return "capture" if device_type == "cuda" else "off"
    if mode != "off" and device_type != "cuda":
        raise RunnerError(f"cuda_graphs={mode!r} needs a CUDA device (running on "
                          f"{device_type}); use 'auto' or 'off'")
    return mode


def autocast_dtype(name: str, device_type: str) -> torch.dtype | None:
    """torch dtype of an ``autocast`` setting (None for ``off``); CUDA only."""
    torch = lazy_import("torch", "the torch backend")
    if name not in AUTOCAST:
        raise RunnerError(f"autocast must be one of {', '.join(AUTOCAST)}, got {name!r}")
    if name == "off":
        return None
    if device_type != "cuda":
        raise RunnerError(f"autocast={name!r} needs a CUDA device (running on {device_type})")
    return torch.float16 if name == "fp16" else torch.bfloat16


@dataclass
class _Slot:
    """Static buffers (and the graph) of one key."""

    host_in: list[torch.Tensor]  # pinned (CUDA) or plain host tensors, one per input
    device_in: list[torch.Tensor]
    call: Callable[[], Any]  # runs (or replays) the function on device_in, returns outputs
    host_out: list[torch.Tensor] | None = None
    note: str = ""


class DevicePipeline:
    """Camera-to-depth and network-only calls of one model on one device (module docstring)."""

    def __init__(self, model: torch.nn.Module, device: torch.device, mode: str,
                 autocast: torch.dtype | None, network_hw: tuple[int, int],
                 canonical_focal: float, min_depth: float, max_depth: float,
                 max_graphs: int = 8) -> None:
        torch = lazy_import("torch", "the torch backend")
        self.torch = torch
        self.model = model
        self.device = torch.device(device)
        self.cuda = self.device.type == "cuda"
        self.mode = mode
        self.autocast = autocast
        self.network_hw = tuple(network_hw)
        self.canonical_focal = float(canonical_focal)
        self.min_depth, self.max_depth = float(min_depth), float(max_depth)
        self.max_graphs = max_graphs
        self.stream = torch.cuda.Stream(self.device) if self.cuda else None
        self._slots: OrderedDict[tuple, _Slot] = OrderedDict()
        self._processing: dict[tuple[int, int], DeviceProcessing] = {}
        self._compiled: dict[bool, Callable[..., Any]] = {}
        self._thread = (ThreadPoolExecutor(1, thread_name_prefix="iid-rdepth-compile")
                        if mode == "compile" else None)
        self._lock = threading.Lock()
        self.notes: list[str] = []

    # -------------------------------------------------------------------------- public

    def camera_to_depth(self, image: np.ndarray, aux: np.ndarray | None, scale: float,
                        fb: float | None, output_resolution: str
                        ) -> tuple[np.ndarray, np.ndarray | None]:
        """Depth in metres, ``(H, W)`` (or the network size), NaN where invalid, and the
        stereo confidence in ``[0, 1]`` at the same size (NaN where depth is) where the model
        gives one (the matcher's path with an aux view), else None."""
        key = ("camera", image.shape[:2], aux is not None, output_resolution)
        scalars = np.array([scale, fb if fb is not None else 0.0], np.float32)
        inputs = [image] + ([aux] if aux is not None else []) + [scalars]
        out = self._run(key, inputs, lambda: self._camera_slot(key, inputs))
        return out[0], (out[1] if len(out) > 1 else None)

    def network(self, image: np.ndarray, aux: np.ndarray | None,
                fb: np.ndarray | None) -> np.ndarray | dict[str, np.ndarray]:
        """Network depth ``(1, 1, h, w)`` at the canonical focal for prepared tensors; with a
        stereo confidence ``{"depth": ..., "confidence": ...}`` (as ``Runner._forward``)."""
        key = ("network", aux is not None)
        inputs = [image] + ([aux, fb] if aux is not None else [])
        inputs = [np.ascontiguousarray(a, dtype=np.float32) for a in inputs]
        out = self._run(key, inputs, lambda: self._network_slot(key, inputs))
        return out[0] if len(out) == 1 else {"depth": out[0], "confidence": out[1]}

    @property
    def info(self) -> dict[str, Any]:
        """Mode, graphs held and what fell back to eager (for ``runner.info``)."""
        return {"cuda_graphs": self.mode, "graphs": len(self._slots),
                "autocast": None if self.autocast is None else str(self.autocast),
                "pinned_buffers": self.cuda, "graph_notes": list(self.notes)}

    def close(self) -> None:
        self._slots.clear()
        self._compiled.clear()
        if self._thread is not None:
            self._thread.shutdown(wait=True)

    # ------------------------------------------------------------------------ internals

    def _run(self, key: tuple, inputs: list[np.ndarray],
             make: Callable[[], _Slot]) -> list[np.ndarray]:
        if self._thread is not None:  # compile mode: its CUDA graphs are per thread
            return self._thread.submit(self._run_here, key, inputs, make).result()
        return self._run_here(key, inputs, make)

    def _run_here(self, key: tuple, inputs: list[np.ndarray],
                  make: Callable[[], _Slot]) -> list[np.ndarray]:
        torch = self.torch
        with self._lock, self._stream_context(), torch.inference_mode():
            slot = self._slots.get(key)
            if slot is None:
                slot = self._slots[key] = make()
                while len(self._slots) > self.max_graphs:
                    self._slots.popitem(last=False)
            self._slots.move_to_end(key)
            for host, device, array in zip(slot.host_in, slot.device_in, inputs, strict=True):
                host.numpy()[...] = array
                device.copy_(host, non_blocking=self.cuda)
            outputs = slot.call()
            if slot.host_out is None:
                slot.host_out = [self._host_like(o) for o in outputs]
            for host, out in zip(slot.host_out, outputs, strict=True):
                host.copy_(out, non_blocking=self.cuda)
            if self.stream is not None:
                self.stream.synchronize()
            return [h.numpy().copy() for h in slot.host_out]

    def _stream_context(self) -> Any:
        return self.torch.cuda.stream(self.stream) if self.stream is not None else nullcontext()

    def _host_like(self, tensor: torch.Tensor) -> torch.Tensor:
        return self.torch.empty(tuple(tensor.shape), dtype=tensor.dtype, pin_memory=self.cuda)

    def _buffers(self, inputs: list[np.ndarray]) -> tuple[list[Any], list[Any]]:
        torch = self.torch
        host = [torch.empty(a.shape, dtype=torch.from_numpy(a[:0]).dtype, pin_memory=self.cuda)
                for a in inputs]
        device = [torch.empty(a.shape, dtype=h.dtype, device=self.device)
                  for a, h in zip(inputs, host, strict=True)]
        for h, d, a in zip(host, device, inputs, strict=True):  # real data for the warm-up
            h.numpy()[...] = a
            d.copy_(h)
        return host, device

    def _forward(self, image: torch.Tensor, aux: torch.Tensor | None,
                 fb: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
        """(depth,) or (depth, confidence), float32."""
        torch = self.torch
        context = (torch.autocast(self.device.type, dtype=self.autocast, cache_enabled=False)
                   if self.autocast is not None else nullcontext())
        with context:
            outputs = getattr(self.model, "forward_outputs", None)
            if outputs is None:
                out = self.model(image, aux=aux, fb=fb)
                depth, confidence = (out["depth"] if isinstance(out, dict) else out), None
            else:
                depth, confidence = outputs(image, aux=aux, fb=fb)
        if confidence is None:
            return (depth.float(),)
        return depth.float(), confidence.float()

    def _camera_fn(self, processing: DeviceProcessing, stereo: bool, resolution: str
                   ) -> Callable[..., Any]:
        def camera(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
            scalars = tensors[-1]
            image = processing.image(tensors[0])
            aux = processing.image(tensors[1]) if stereo else None
            net = self._forward(image, aux, scalars[1:2] if stereo else None)
            depth = processing.depth(net[0], scalars[0], resolution)
            if len(net) == 1:
                return (depth,)
            return depth, processing.confidence(net[1], depth)

        return camera

    def _camera_slot(self, key: tuple, inputs: list[np.ndarray]) -> _Slot:
        _, input_hw, stereo, resolution = key
        processing = self._processing.get(input_hw)
        if processing is None:
            processing = self._processing[input_hw] = DeviceProcessing(
                input_hw, self.network_hw, self.device, self.min_depth, self.max_depth)
        return self._slot(key, self._camera_fn(processing, stereo, resolution), inputs)

    def _network_slot(self, key: tuple, inputs: list[np.ndarray]) -> _Slot:
        stereo = key[1]

        def network(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
            if stereo:
                return self._forward(tensors[0], tensors[1], tensors[2])
            return self._forward(tensors[0], None, None)

        return self._slot(key, network, inputs)

    def _slot(self, key: tuple, fn: Callable[..., tuple], inputs: list[np.ndarray]) -> _Slot:
        host, device = self._buffers(inputs)
        if self.mode == "capture":
            try:
                return _Slot(host, device, self._capture(fn, device))
            except RuntimeError as exc:  # not capturable: say why, run eagerly
                self.notes.append(f"{key}: CUDA graph capture failed, running eagerly: "
                                  f"{str(exc).splitlines()[0]}")
                self.torch.cuda.synchronize(self.device)
        if self.mode == "compile":
            compiled = self.torch.compile(fn, mode="reduce-overhead", dynamic=False)

            def call() -> tuple:
                self.torch.compiler.cudagraph_mark_step_begin()
                return compiled(*device)

            return _Slot(host, device, call)
        return _Slot(host, device, lambda: fn(*device))

    def _capture(self, fn: Callable[..., tuple], device: list[Any]) -> Callable[[], tuple]:
        """Record ``fn(*device)`` as a CUDA graph on the pipeline's stream; returns replay."""
        torch = self.torch
        assert self.stream is not None
        for _ in range(WARMUP):  # on the capture stream, as torch.cuda.graph requires
            fn(*device)
        self.stream.synchronize()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, stream=self.stream):
            outputs = fn(*device)

        def replay() -> tuple:
            graph.replay()
            return outputs

        return replay
