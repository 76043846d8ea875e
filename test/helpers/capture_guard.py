"""Find what makes a forward pass un-capturable as a CUDA graph, on any machine.

A forward that CUDA graphs (``torch.cuda.graph``, ``torch.compile(mode="reduce-overhead")``)
can capture must not touch host memory: no tensor built from host data (``torch.tensor``,
``from_numpy``, ``as_tensor`` of a Python value), no host tensor copied to the device or back
(``.to``, ``.cpu()``, ``.numpy()``, ``.tolist()``), no device value read on the host
(``.item()``, ``float(t)``, ``bool(t)`` in an ``if``) and no op whose output shape depends on
the data (``nonzero``, boolean-mask indexing). Run the forward on the ``meta`` device inside
:func:`host_traffic` and every such call is recorded: a meta tensor has no data, so any CPU
tensor that meets it is a host tensor that on a GPU would be copied across, and reading a
meta value is a sync. Nothing needs a GPU.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

#: ops that read a device value on the host (a sync) or size an output by the data
SYNC_OPS = {"aten::_local_scalar_dense", "aten::item", "aten::nonzero", "aten::masked_select",
            "aten::unique_dim", "aten::_unique2", "aten::unique_consecutive",
            "aten::repeat_interleave", "aten::equal", "aten::is_nonzero"}
#: Python-level calls that bring host data in or device data out
HOST_FUNCTIONS = {torch.tensor, torch.as_tensor, torch.from_numpy, torch.asarray,
                  torch.Tensor.new_tensor, torch.Tensor.tolist, torch.Tensor.numpy,
                  torch.Tensor.item, torch.Tensor.cpu, torch.Tensor.__bool__,
                  torch.Tensor.__float__, torch.Tensor.__int__, torch.Tensor.__index__}


def _on_host(value: Any) -> bool:
    return isinstance(value, torch.Tensor) and value.device.type == "cpu"


class _Functions(TorchFunctionMode):
    def __init__(self, events: list[str]) -> None:
        super().__init__()
        self.events = events

    def __torch_function__(self, func: Any, types: Any, args: tuple = (),
                           kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        if func in HOST_FUNCTIONS:
            data = args[0] if args else None
            already_there = (func is torch.as_tensor and isinstance(data, torch.Tensor)
                             and not _on_host(data))
            if not already_there:
                self.events.append(f"{getattr(func, '__qualname__', func)} (host data)")
        return func(*args, **kwargs)


class _Dispatch(TorchDispatchMode):
    def __init__(self, events: list[str]) -> None:
        super().__init__()
        self.events = events

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (),
                           kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        name = func._schema.name
        if name in SYNC_OPS:
            self.events.append(f"{name} (sync: reads device data on the host)")
            return func(*args, **kwargs)
        host_in = any(_on_host(t) for t in tree_leaves((args, kwargs)))
        out = func(*args, **kwargs)
        if host_in or any(_on_host(t) for t in tree_leaves(out)):
            self.events.append(f"{name} (host tensor)")
        return out


@contextmanager
def host_traffic() -> Iterator[list[str]]:
    """Collect, as readable lines, every host-touching call made inside the block."""
    events: list[str] = []
    with _Functions(events), _Dispatch(events):
        yield events


def host_traffic_of(fn: Any, *args: Any, **kwargs: Any) -> list[str]:
    """:func:`host_traffic` of ``fn(*args, **kwargs)``; a call that fails because a meta
    tensor has no data to read ends the run and is the last line."""
    with host_traffic() as events:
        try:
            fn(*args, **kwargs)
        except (NotImplementedError, RuntimeError) as exc:
            events.append(f"stopped: {type(exc).__name__}: {str(exc).splitlines()[0]}")
    return events
