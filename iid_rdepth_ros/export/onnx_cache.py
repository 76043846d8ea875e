"""Export a checkpoint to ONNX once and reuse it (onnxruntime backend, benchmarks).

The cache key is the checkpoint digest (weights + card), the input size, T, the opset, the
exporter's graph revision (``onnx_export.GRAPH_REVISION``: a newer version of this package
exports anew) and, when it is left out, the stereo refinement.
The cache lives beside the checkpoint (``<dir>/.onnx_cache/<key>/``) when that directory is
writable and not the package's own, else in ``$IID_RDEPTH_CACHE``, ``$XDG_CACHE_HOME`` or
``~/.cache`` under ``iid_rdepth_ros/onnx/``. Entries are written to a temporary directory
and renamed into place, so concurrent users never see half an export.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from iid_rdepth_ros.artifacts.checkpoint_ref import checkpoint_digest, checkpoint_files
from iid_rdepth_ros.artifacts.files import sha256_file

OPSET = 17


def user_cache_root() -> Path:
    """``$IID_RDEPTH_CACHE`` or ``$XDG_CACHE_HOME/iid_rdepth_ros`` or ``~/.cache/...``."""
    if os.environ.get("IID_RDEPTH_CACHE"):
        return Path(os.environ["IID_RDEPTH_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "iid_rdepth_ros"


def cache_root(weights: Path, cache_dir: str | Path | None = None) -> Path:
    """Where exports of this checkpoint are kept (see module docstring)."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    from iid_rdepth_ros.artifacts.checkpoint_ref import CHECKPOINT_DIR

    parent = weights.resolve().parent
    if parent != CHECKPOINT_DIR.resolve() and os.access(parent, os.W_OK):
        return parent / ".onnx_cache"
    return user_cache_root() / "onnx"


def _valid(entry: Path) -> dict[str, Path] | None:
    sidecar = entry / "export.json"
    if not sidecar.is_file():
        return None
    try:
        graphs = json.loads(sidecar.read_text("utf-8"))["graphs"]
        out = {}
        for variant, info in graphs.items():
            path = entry / info["file"]
            if not path.is_file() or sha256_file(path) != info["sha256"]:
                return None
            out[variant] = path
        return out or None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def cached_export(model_ref: str | Path, height: int, width: int, steps: int | None = None,
                  cache_dir: str | Path | None = None, verify: bool = True,
                  stereo_refine: bool = True, max_disparity: int | None = None
                  ) -> dict[str, Path]:
    """``{"mono": path, "stereo": path}`` for the checkpoint at this size and T (exported if
    not cached yet; ``stereo_refine=False``: without AV-LFE's stereo refinement, and
    ``max_disparity``: another matcher search range, each its own entry). Raises
    FileNotFoundError/ValueError naming a missing or bad checkpoint."""
    from iid_rdepth_ros.export.onnx_export import GRAPH_REVISION, export_checkpoint

    weights, _ = checkpoint_files(model_ref)
    from iid_rdepth_ros.model.checkpoint import checkpoint_config

    steps = checkpoint_config(model_ref).for_runtime(steps).diffusion.steps
    key = (f"{checkpoint_digest(model_ref)[:16]}_{height}x{width}_T{steps}_opset{OPSET}"
           f"_g{GRAPH_REVISION}")
    if not stereo_refine:
        key += "_norefine"
    if max_disparity is not None:
        key += f"_D{int(max_disparity)}"
    root = cache_root(weights, cache_dir)
    entry = root / key
    found = _valid(entry)
    if found is not None:
        return found
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=root))
    try:
        export_checkpoint(str(model_ref), tmp, height, width, steps, opset=OPSET, verify=verify,
                          stereo_refine=stereo_refine, max_disparity=max_disparity)
        if entry.exists() and _valid(entry) is None:  # broken; a valid one may be in use
            shutil.rmtree(entry, ignore_errors=True)
        with contextlib.suppress(OSError):  # another process may have finished it first
            tmp.rename(entry)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    found = _valid(entry)
    if found is None:
        raise ValueError(f"ONNX export cache entry {entry} is incomplete")
    return found
