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
                                   stereo_refine=config.stereo_refine,
                                   max_disparity=config.max_disparity)
        except (ValueError, OSError) as exc:
            raise RunnerError(f"cannot export {config.model_path} to ONNX: {exc}") from exc
        config = replace(config, backend="onnxruntime", model_path=str(graphs["mono"]))
    return create_runner(config)


class CameraRunner:
    """A runner whose network input follows the camera (``runtime.network_size``).

    ``config.input_height x config.input_width`` is the pixel budget. :meth:`load` opens the
    runner at the size an exported graph or engine fixes, or at the budget's own size for a
    checkpoint, so a bad model fails there. :meth:`for_camera` gives the runner for a camera
    image of a given size: a checkpoint runs at ``network_size(camera, budget)`` (torch
    changes size in place; ONNX Runtime opens the graph exported for that size, exported once
    and cached), a fixed-size graph or engine keeps its size and the image is letterboxed into
    it. Not thread-safe: one thread (the one that runs inference) uses it.
    """

    def __init__(self, config: RunnerConfig) -> None:
        from iid_rdepth_ros.runtime.factory import fixed_network_size

        config.validate()
        self.config = config
        self.budget_hw = (config.input_height, config.input_width)
        self.fixed_hw = fixed_network_size(config)
        self.runner: Runner | None = None
        self.failed: dict[tuple[int, int], str] = {}  # sizes that could not be opened, why

    def _open(self, size_hw: tuple[int, int]) -> Runner:
        runner = open_runner(replace(self.config, input_height=size_hw[0],
                                     input_width=size_hw[1]))
        try:
            runner.load()
        except BaseException:
            runner.close()
            raise
        return runner

    def load(self) -> Runner:
        """Open and load the runner at its starting size (RunnerError naming the model)."""
        if self.runner is None:
            self.runner = self._open(self.fixed_hw or self.budget_hw)
        return self.runner

    def size_for(self, camera_hw: tuple[int, int]) -> tuple[int, int]:
        """The network size a camera image of ``camera_hw`` runs at."""
        from iid_rdepth_ros.runtime.network_size import network_size

        return self.fixed_hw or network_size(camera_hw, self.budget_hw)

    def for_camera(self, camera_hw: tuple[int, int]) -> Runner:
        """The loaded runner for this camera size (reopened at another size when needed; when
        that fails the previous runner stays, letterboxing, and :attr:`failed` says why)."""
        runner = self.load()
        want = self.size_for(camera_hw)
        if runner.network_hw == want or want in self.failed or runner.set_network_size(want):
            return runner
        try:
            new = self._open(want)
        except (RunnerError, ValueError, OSError) as exc:
            self.failed[want] = str(exc)
            return runner
        self.runner = new
        runner.close()
        return new

    def close(self) -> None:
        """Close the runner."""
        if self.runner is not None:
            self.runner.close()
            self.runner = None
