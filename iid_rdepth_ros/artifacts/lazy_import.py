"""Import heavy optional modules on first use, with one clear error when they are missing."""

from __future__ import annotations

import importlib
from types import ModuleType

from iid_rdepth_ros.artifacts.errors import MissingDependencyError

#: Import name -> what to install when it is missing.
INSTALL_HINTS: dict[str, str] = {
    "torch": "pip install torch",
    "onnx": "pip install onnx",
    "onnxruntime": "pip install onnxruntime (or onnxruntime-gpu for the CUDA provider)",
    "tensorrt": "pip install tensorrt (TensorRT 10, needs an NVIDIA GPU)",
    "pycuda": "pip install pycuda (needs the CUDA toolkit)",
    "cv2": "pip install opencv-python-headless",
}


def lazy_import(name: str, purpose: str | None = None) -> ModuleType:
    """Import ``name`` now; if it is not installed raise :class:`MissingDependencyError`.

    The message names the module, what it is needed for and how to install it.
    """
    try:
        return importlib.import_module(name)
    except (ImportError, OSError) as exc:  # OSError: a wheel whose native libraries are missing
        top = name.split(".")[0]
        hint = INSTALL_HINTS.get(top, f"pip install {top}")
        why = f" (needed for {purpose})" if purpose else ""
        raise MissingDependencyError(
            f"Python module '{name}' is not available{why}: {exc}. Install it with: {hint}"
        ) from exc


def is_available(name: str) -> bool:
    """True when ``name`` can be imported (imports it; use only where the import is wanted)."""
    try:
        importlib.import_module(name)
    except (ImportError, OSError):
        return False
    return True
