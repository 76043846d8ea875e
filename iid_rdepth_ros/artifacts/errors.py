"""Errors raised by the runtime layer."""

from __future__ import annotations


class RunnerError(RuntimeError):
    """A model, engine or backend could not be loaded or used; the message says which and why."""


class MissingDependencyError(RunnerError, ImportError):
    """An optional heavy dependency (torch, onnxruntime, tensorrt, pycuda) is not installed."""
