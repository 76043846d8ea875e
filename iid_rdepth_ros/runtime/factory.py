"""``create_runner``: pick and construct a backend from a :class:`RunnerConfig`."""

from __future__ import annotations

from pathlib import Path

from iid_rdepth_ros.artifacts.errors import RunnerError
from iid_rdepth_ros.artifacts.lazy_import import is_available
from iid_rdepth_ros.runtime.base import Runner
from iid_rdepth_ros.runtime.config import RunnerConfig


def tensorrt_usable(config: RunnerConfig) -> tuple[bool, str]:
    """Whether the tensorrt backend can serve ``config`` here, and if not, why."""
    if not config.engine_path:
        return False, "no engine_path configured"
    if not Path(config.engine_path).expanduser().is_file():
        return False, f"engine {config.engine_path} does not exist"
    for module in ("tensorrt", "pycuda.driver"):
        if not is_available(module):
            return False, f"Python module {module} is not installed"
    return True, ""


def resolve_backend(config: RunnerConfig) -> str:
    """The concrete backend for ``config.backend`` (``auto``: tensorrt > onnxruntime > torch)."""
    return backend_choice(config)[0]


def backend_choice(config: RunnerConfig) -> tuple[str, str]:
    """(backend, why): the concrete backend for ``config.backend`` and, where ``auto`` passed
    over a configured engine, the reason (else "")."""
    if config.backend != "auto":
        return config.backend, ""
    usable, why = tensorrt_usable(config)
    if usable:
        return "tensorrt", ""
    note = f"engine_path {config.engine_path} not used: {why}" if config.engine_path else ""
    if is_available("onnxruntime"):
        return "onnxruntime", note
    if is_available("torch"):
        return "torch", note
    raise RunnerError("no inference backend is installed: install onnxruntime "
                      "(pip install onnxruntime) or torch (pip install torch)")


def fixed_network_size(config: RunnerConfig) -> tuple[int, int] | None:
    """The network size an exported graph or built engine fixes for ``config`` (read from its
    metadata or sidecar), or None when the model runs at any size (a checkpoint). Unreadable
    files give None here; loading them reports why."""
    backend = resolve_backend(config)
    try:
        if backend == "tensorrt" and config.engine_path:
            from iid_rdepth_ros.artifacts.engine_sidecar import read_sidecar

            shape = (read_sidecar(config.engine_path).get("input_shapes") or {}).get("image")
            return (int(shape[-2]), int(shape[-1])) if shape else None
        if str(config.model_path).endswith(".onnx"):
            from iid_rdepth_ros.artifacts.onnx_meta import get_metadata

            meta = get_metadata(Path(config.model_path).expanduser())
            return int(meta["height"]), int(meta["width"])
    except (ValueError, OSError, KeyError, TypeError, IndexError):
        return None
    return None


def create_runner(config: RunnerConfig) -> Runner:
    """Construct (not load) the runner for ``config``; ValueError for a bad config.

    With ``backend="auto"`` a configured engine is used when TensorRT can run it here;
    an engine that exists but is stale for this GPU/TensorRT/ONNX makes ``load()`` fail
    with the reason rather than silently falling back.
    """
    config.validate()
    backend = resolve_backend(config)
    if backend == "tensorrt":
        from iid_rdepth_ros.runtime.tensorrt_runner import TensorRTRunner

        return TensorRTRunner(config)
    if backend == "onnxruntime":
        from iid_rdepth_ros.runtime.onnxruntime_runner import OnnxRuntimeRunner

        return OnnxRuntimeRunner(config)
    from iid_rdepth_ros.runtime.torch_runner import TorchRunner

    return TorchRunner(config)
