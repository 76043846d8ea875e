"""Build TensorRT 10 / 11 engines from our ONNX graphs, one code path for both.

Precision lives in the graph (``export/precision.py``: FP16-converted or INT8 QDQ graphs), so
the builder never picks one: TensorRT >= 10.12 and 11 (which has nothing else) parse the graph
into a **strongly typed** network, every layer in the type the graph gives it. TensorRT
10.0-10.11 (JetPack 6 ships 10.3) cannot build our graphs strongly typed, so there the network
is weakly typed and the builder flags the graph's precision needs (``WEAK_TYPING_FLAGS``) are
looked up by name at run time; no name TensorRT 11 lacks (``BuilderFlag.FP16``, ``INT8``,
calibrators, ``EXPLICIT_BATCH``) is ever touched on 11. Enum values are never stored: they
differ between versions (``STRONGLY_TYPED`` is 1 in 10.x and 0 in 11.x).

Writes ``<variant>.<precision>.engine`` plus its JSON sidecar (``artifacts/engine_sidecar.py``)
into the output directory. An existing engine whose sidecar matches is reused; one that does
not match is refused with the differences unless ``rebuild`` is set. The timing cache is keyed
like the engine (TensorRT version, GPU, compute capability), and a cache TensorRT refuses is
replaced by an empty one with a note in the sidecar.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iid_rdepth_ros.artifacts.engine_sidecar import (
    read_sidecar,
    sidecar_mismatches,
    write_sidecar,
)
from iid_rdepth_ros.artifacts.files import atomic_path, sha256_file
from iid_rdepth_ros.artifacts.lazy_import import lazy_import
from iid_rdepth_ros.artifacts.onnx_meta import get_metadata, load_graph
from iid_rdepth_ros.export.precision import graph_precision
from iid_rdepth_ros.runtime.cuda_worker import CudaWorker
from iid_rdepth_ros.runtime.tensorrt_runner import current_environment

#: first TensorRT version that builds our graphs as strongly typed networks
STRONG_TYPING_FROM = (10, 12)
#: graph precision -> ``BuilderFlag`` member names a weakly typed build (< 10.12) needs
WEAK_TYPING_FLAGS: dict[str, tuple[str, ...]] = {"fp32": (), "fp16": ("FP16",),
                                                 "int8": ("INT8",)}


@dataclass
class BuildOptions:
    """How to build: workspace, timing cache, whether to replace an existing engine."""

    workspace_gib: float = 2.0
    timing_cache: Path | None = None  # default: OUT/timing-<TensorRT>-<GPU>-sm<cc>.cache
    rebuild: bool = False

    def validate(self) -> None:
        """ValueError for inconsistent options."""
        if not self.workspace_gib > 0:
            raise ValueError(f"workspace must be > 0 GiB, got {self.workspace_gib}")


@dataclass
class BuildResult:
    """Where the engine is and whether it was built now or reused."""

    engine_path: Path
    sidecar: dict[str, Any]
    built: bool
    seconds: float


@dataclass
class BuildPlan:
    """What the build does on this TensorRT: strong or weak typing and which flags."""

    tensorrt_version: str
    precision: str
    strongly_typed: bool
    flags: tuple[str, ...]
    notes: list[str] = field(default_factory=list)


def version_tuple(version: str) -> tuple[int, int]:
    """``"10.16.1.11"`` -> ``(10, 16)``."""
    parts = re.findall(r"\d+", version)
    if len(parts) < 2:
        raise ValueError(f"cannot read a TensorRT version from {version!r}")
    return int(parts[0]), int(parts[1])


def plan_build(tensorrt_version: str, precision: str) -> BuildPlan:
    """Strongly typed on TensorRT >= 10.12, else weakly typed with the precision's flags."""
    if precision not in WEAK_TYPING_FLAGS:
        raise ValueError(f"unknown graph precision {precision!r}")
    strong = version_tuple(tensorrt_version) >= STRONG_TYPING_FROM
    flags = () if strong else WEAK_TYPING_FLAGS[precision]
    return BuildPlan(tensorrt_version, precision, strong, flags)


def builder_flag(trt: Any, name: str) -> Any:
    """``trt.BuilderFlag.<name>``, looked up at run time; ValueError where it does not exist."""
    flag = getattr(trt.BuilderFlag, name, None)
    if flag is None:
        raise ValueError(f"TensorRT {trt.__version__} has no BuilderFlag.{name}: this graph "
                         "needs a strongly typed build (TensorRT >= 10.12)")
    return flag


def timing_cache_path(out_dir: Path, environment: dict[str, str]) -> Path:
    """``OUT/timing-<TensorRT version>-<GPU>-sm<compute capability>.cache``."""
    gpu = re.sub(r"[^A-Za-z0-9]+", "_", environment["gpu_name"]).strip("_")
    return out_dir / (f"timing-{environment['tensorrt_version']}-{gpu}-"
                      f"sm{environment['compute_capability']}.cache")


def input_shapes(graph: Any) -> dict[str, list[int]]:
    """Fixed input shapes of an ONNX graph by name."""
    shapes = {}
    for vi in graph.input:
        shapes[vi.name] = [d.dim_value for d in vi.type.tensor_type.shape.dim]
    return shapes


def build_engine(onnx_path: Path, out_dir: Path, options: BuildOptions) -> BuildResult:
    """Build (or reuse) the engine for one ONNX graph; see module docstring."""
    options.validate()
    lazy_import("tensorrt", "building TensorRT engines")
    onnx_path = Path(onnx_path)
    graph = load_graph(onnx_path, load_weights=False)
    meta = get_metadata(graph)
    precision = graph_precision(graph)
    environment = current_environment()
    plan = plan_build(environment["tensorrt_version"], precision)
    sidecar = {
        **environment,
        "precision": precision,
        "strongly_typed": plan.strongly_typed,
        "builder_flags": list(plan.flags),
        "input_shapes": input_shapes(graph.graph),
        "steps": int(meta["steps"]),
        "variant": meta["variant"],
        "onnx_sha256": sha256_file(onnx_path),
        "onnx_path": str(onnx_path.resolve()),
        "canonical_focal": float(meta["canonical_focal"]),
        "min_depth": float(meta["min_depth"]),
        "max_depth": float(meta["max_depth"]),
        "model": meta.get("model"),
        "stereo_refine": bool(meta.get("stereo_refine", False)),
        "max_disparity": meta.get("max_disparity"),
        "workspace_gib": options.workspace_gib,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    engine_path = out_dir / f"{meta['variant']}.{precision}.engine"
    if engine_path.is_file() and not options.rebuild:
        problems = _existing_problems(engine_path, sidecar, environment)
        if not problems:
            return BuildResult(engine_path, read_sidecar(engine_path), built=False, seconds=0.0)
        raise ValueError(f"{engine_path} exists but does not match: {'; '.join(problems)} "
                         "(pass --rebuild to replace it)")
    cache = options.timing_cache or timing_cache_path(out_dir, environment)
    start = time.perf_counter()
    worker = CudaWorker()
    try:
        blob = worker.call(_build, onnx_path, options, plan, cache)
    finally:
        worker.close()
    with atomic_path(engine_path) as tmp:
        tmp.write_bytes(blob)
    sidecar.update(built_unix=time.time(), timing_cache=str(cache), build_notes=plan.notes)
    write_sidecar(engine_path, sidecar)
    return BuildResult(engine_path, read_sidecar(engine_path), built=True,
                       seconds=time.perf_counter() - start)


def _existing_problems(engine_path: Path, expected: dict[str, Any],
                       environment: dict[str, str]) -> list[str]:
    try:
        existing = read_sidecar(engine_path)
    except ValueError as exc:
        return [str(exc)]
    problems = sidecar_mismatches(existing, environment, onnx_sha256=expected["onnx_sha256"],
                                  input_hw=tuple(expected["input_shapes"]["image"][-2:]),
                                  steps=expected["steps"], variant=expected["variant"])
    if existing.get("precision") != expected["precision"]:
        problems.append(f"precision: engine has {existing.get('precision')!r}, "
                        f"graph has {expected['precision']!r}")
    return problems


def attach_timing_cache(config: Any, cache_bytes: bytes, notes: list[str]) -> Any:
    """Give the builder config a timing cache (``cache_bytes``, else empty) and return it.

    ``set_timing_cache`` returns False for a cache it refuses (written by another TensorRT or
    GPU): then an empty cache is used and ``notes`` says so."""
    cache = config.create_timing_cache(cache_bytes)
    if config.set_timing_cache(cache, ignore_mismatch=False):
        return cache
    notes.append("timing cache refused by TensorRT (another version or GPU?): started an "
                 "empty one")
    cache = config.create_timing_cache(b"")
    if not config.set_timing_cache(cache, ignore_mismatch=False):
        raise ValueError("TensorRT refused an empty timing cache")
    return cache


def configure(trt: Any, builder: Any, plan: BuildPlan, workspace_gib: float,
              cache_bytes: bytes) -> tuple[Any, Any]:
    """(network, builder config) for ``plan``: strong typing or weak-typing flags, workspace,
    timing cache. Only names both TensorRT 10 and 11 have are used, except the flags of a
    weakly typed plan (TensorRT < 10.12), which are looked up by name."""
    creation = 0
    if plan.strongly_typed:
        creation = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(creation)
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gib * (1 << 30)))
    attach_timing_cache(config, cache_bytes, plan.notes)
    for name in plan.flags:
        config.set_flag(builder_flag(trt, name))
    return network, config


def _build(onnx_path: Path, options: BuildOptions, plan: BuildPlan,
           timing_cache_file: Path) -> bytes:
    """Runs on the CUDA thread: parse, configure, build; returns the serialised engine."""
    trt = lazy_import("tensorrt", "building TensorRT engines")
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    cache_bytes = timing_cache_file.read_bytes() if timing_cache_file.is_file() else b""
    network, config = configure(trt, builder, plan, options.workspace_gib, cache_bytes)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise ValueError(f"TensorRT could not parse {onnx_path}: " + " | ".join(errors))
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ValueError(f"TensorRT failed to build an engine from {onnx_path} "
                         "(see the TensorRT log above)")
    with atomic_path(timing_cache_file) as tmp:
        tmp.write_bytes(memoryview(config.get_timing_cache().serialize()).tobytes())
    return memoryview(serialized).tobytes()
