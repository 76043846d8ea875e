"""Runtime layer: one runner interface over TensorRT, ONNX Runtime and PyTorch (no ROS).

Importing this package is light (numpy only); backends import their libraries on load.
"""

from iid_rdepth_ros.artifacts.errors import MissingDependencyError, RunnerError
from iid_rdepth_ros.runtime.base import DepthResult, Runner
from iid_rdepth_ros.runtime.config import BACKENDS, Intrinsics, RunnerConfig
from iid_rdepth_ros.runtime.factory import create_runner, resolve_backend

__all__ = ["BACKENDS", "DepthResult", "Intrinsics", "MissingDependencyError", "Runner",
           "RunnerConfig", "RunnerError", "create_runner", "resolve_backend"]
