"""``open_runner``: a runner for any model reference, the one entry point above the runtime.

The ONNX Runtime runner runs exported graphs only; given a checkpoint (``default``, a path) it
is handed the graph that :func:`~iid_rdepth_ros.export.onnx_cache.cached_export` made once for
this checkpoint, input size, T and stereo refinement. The other backends take the config as it
is. The node, the evaluators and the benchmarks all open their runners here.
"""

from __future__ import annotations

from dataclasses import replace

from iid_rdepth_ros.artifacts.errors import RunnerError
from iid_rdepth_ros.runtime import Runner, RunnerConfig, create_runner, resolve_backend


def open_runner(config: RunnerConfig) -> Runner:
    """Construct (not load) the runner for ``config``; RunnerError naming the model when its
    checkpoint cannot be exported for ONNX Runtime."""
    config.validate()
    if resolve_backend(config) == "onnxruntime" and not str(config.model_path).endswith(".onnx"):
        from iid_rdepth_ros.export.onnx_cache import cached_export

        try:
            graphs = cached_export(config.model_path, config.input_height, config.input_width,
                                   config.diffusion_steps, cache_dir=config.cache_dir,
                                   stereo_refine=config.stereo_refine)
        except (ValueError, OSError) as exc:
            raise RunnerError(f"cannot export {config.model_path} to ONNX: {exc}") from exc
        config = replace(config, backend="onnxruntime", model_path=str(graphs["mono"]))
    return create_runner(config)
