"""TensorRT engine sidecar (JSON beside the ``.engine``) and the rules for reusing an engine.

Pure Python: no TensorRT needed to read, write or compare sidecars. An engine is only valid for
the TensorRT version, GPU (name and compute capability) and ONNX graph it was built from, and
for the shapes / T / variant it fixes; :func:`sidecar_mismatches` says what differs.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from iid_rdepth_ros.artifacts.files import write_text_atomic

FORMAT = "iid-rdepth-engine/1"
PRECISIONS = ("fp32", "fp16", "int8")
#: Fields that identify an engine; all must match for it to be reused.
KEY_FIELDS = ("tensorrt_version", "gpu_name", "compute_capability", "precision",
              "input_shapes", "steps", "variant", "onnx_sha256")
REQUIRED = (*KEY_FIELDS, "format", "canonical_focal")


def sidecar_path(engine_path: str | Path) -> Path:
    """``x.engine`` -> ``x.engine.json``."""
    engine_path = Path(engine_path)
    return engine_path.with_name(engine_path.name + ".json")


def engine_key(sidecar: dict[str, Any]) -> str:
    """Short stable hash of the key fields (the engine cache key)."""
    key = {name: sidecar.get(name) for name in KEY_FIELDS}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def read_sidecar(engine_path: str | Path) -> dict[str, Any]:
    """Read and check the sidecar of an engine; ValueError naming the file if unusable."""
    path = sidecar_path(engine_path)
    if not path.is_file():
        raise ValueError(f"engine sidecar {path} is missing (rebuild the engine with "
                         "'iid-rdepth build-engine')")
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"engine sidecar {path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"engine sidecar {path} must hold a JSON object")
    missing = [name for name in REQUIRED if name not in data]
    if missing:
        raise ValueError(f"engine sidecar {path} lacks {', '.join(missing)}")
    if data["format"] != FORMAT:
        raise ValueError(f"engine sidecar {path} has format {data['format']!r}, "
                         f"expected {FORMAT!r}")
    return data


def write_sidecar(engine_path: str | Path, sidecar: dict[str, Any]) -> Path:
    """Write ``sidecar`` (with format and key) beside the engine; returns its path."""
    data = {"format": FORMAT, **sidecar}
    data["engine_key"] = engine_key(data)
    path = sidecar_path(engine_path)
    return write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def _differs(label: str, engine: Any, here: Any, where: str) -> str:
    return f"{label}: engine has {engine!r}, {where} {here!r}"


def sidecar_mismatches(
    sidecar: dict[str, Any],
    environment: dict[str, Any],
    onnx_sha256: str | None = None,
    input_hw: tuple[int, int] | None = None,
    steps: int | None = None,
    variant: str | None = None,
    stereo_refine: bool = True,
    max_disparity: int | None = None,
) -> list[str]:
    """Everything that makes the engine unusable here, one readable item each (empty = OK).

    ``environment``: ``tensorrt_version``, ``gpu_name``, ``compute_capability`` of this machine
    (see ``tensorrt_runner.current_environment``). The optional arguments are what the caller
    expects: the ONNX the engine should come from, the network size, T, and variant;
    ``stereo_refine=False`` refuses a stereo engine built with the stereo refinement;
    ``max_disparity`` refuses a stereo engine whose matcher searches another range.
    """
    problems = []
    for name, label in (("tensorrt_version", "TensorRT version"), ("gpu_name", "GPU"),
                        ("compute_capability", "GPU compute capability")):
        if name in environment and str(sidecar.get(name)) != str(environment[name]):
            problems.append(_differs(label, sidecar.get(name), environment[name], "this machine"))
    if onnx_sha256 is not None and sidecar.get("onnx_sha256") != onnx_sha256:
        problems.append(_differs("ONNX sha256", sidecar.get("onnx_sha256"), onnx_sha256,
                                 "the ONNX file now has"))
    if input_hw is not None:
        shape = (sidecar.get("input_shapes") or {}).get("image")
        if not shape or tuple(shape[-2:]) != tuple(input_hw):
            problems.append(_differs("input size (h, w)", None if not shape else shape[-2:],
                                     list(input_hw), "configured"))
    if steps is not None and sidecar.get("steps") != steps:
        problems.append(_differs("diffusion steps T", sidecar.get("steps"), steps, "configured"))
    if variant is not None and sidecar.get("variant") != variant:
        problems.append(_differs("variant", sidecar.get("variant"), variant, "expected"))
    if not stereo_refine and sidecar.get("variant") == "stereo" and sidecar.get("stereo_refine"):
        problems.append("stereo refinement: engine has it, configured off (build the engine "
                        "from 'iid-rdepth export --no-stereo-refine')")
    if max_disparity is not None and sidecar.get("variant") == "stereo" \
            and sidecar.get("max_disparity") != max_disparity:
        problems.append(_differs("stereo max_disparity", sidecar.get("max_disparity"),
                                 max_disparity, "configured") + " (build the engine from "
                        f"'iid-rdepth export --max-disparity {max_disparity}')")
    return problems
