"""Build TensorRT 10 engines from our ONNX graphs (builder, OnnxParser, timing cache, INT8).

Writes ``<variant>.<precision>.engine`` plus its JSON sidecar (see runtime/engine_sidecar.py)
into the output directory. An existing engine whose sidecar matches is reused; one that does
not match is refused with the differences unless ``rebuild`` is set.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
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
from iid_rdepth_ros.runtime.cuda_worker import CudaWorker
from iid_rdepth_ros.runtime.tensorrt_runner import current_environment


@dataclass
class BuildOptions:
    """How to build: precision flags, INT8 calibration data, workspace and caches."""

    fp16: bool = False
    int8: bool = False
    #: INT8: network inputs of real frames per graph variant (``bench.frames.calibration_feeds``)
    calibration: dict[str, list[dict[str, Any]]] | None = None
    workspace_gib: float = 2.0
    timing_cache: Path | None = None  # default: OUT/timing.cache
    rebuild: bool = False

    @property
    def precision(self) -> str:
        """``int8``, ``fp16`` or ``fp32``."""
        return "int8" if self.int8 else "fp16" if self.fp16 else "fp32"

    def validate(self) -> None:
        """ValueError for inconsistent options."""
        if self.int8 and not self.calibration:
            raise ValueError("--int8 needs --calib DIR (a synth-street directory of real frames)")
        if not self.workspace_gib > 0:
            raise ValueError(f"workspace must be > 0 GiB, got {self.workspace_gib}")


@dataclass
class BuildResult:
    """Where the engine is and whether it was built now or reused."""

    engine_path: Path
    sidecar: dict[str, Any]
    built: bool
    seconds: float


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
    environment = current_environment()
    sidecar = {
        **environment,
        "precision": options.precision,
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
        "workspace_gib": options.workspace_gib,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    engine_path = out_dir / f"{meta['variant']}.{options.precision}.engine"
    if engine_path.is_file() and not options.rebuild:
        problems = _existing_problems(engine_path, sidecar, environment)
        if not problems:
            return BuildResult(engine_path, read_sidecar(engine_path), built=False, seconds=0.0)
        raise ValueError(f"{engine_path} exists but does not match: {'; '.join(problems)} "
                         "(pass --rebuild to replace it)")
    start = time.perf_counter()
    worker = CudaWorker()
    try:
        blob = worker.call(_build, onnx_path, options, meta,
                           options.timing_cache or out_dir / "timing.cache")
    finally:
        worker.close()
    with atomic_path(engine_path) as tmp:
        tmp.write_bytes(blob)
    sidecar["built_unix"] = time.time()
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
                        f"requested {expected['precision']!r}")
    return problems


def _build(onnx_path: Path, options: BuildOptions, meta: dict[str, Any],
           timing_cache_path: Path) -> bytes:
    """Runs on the CUDA thread: parse, configure, build; returns the serialised engine."""
    trt = lazy_import("tensorrt", "building TensorRT engines")
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: explicit batch is the only mode
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise ValueError(f"TensorRT could not parse {onnx_path}: " + " | ".join(errors))
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE,
                                 int(options.workspace_gib * (1 << 30)))
    cache_bytes = timing_cache_path.read_bytes() if timing_cache_path.is_file() else b""
    timing_cache = config.create_timing_cache(cache_bytes)
    config.set_timing_cache(timing_cache, ignore_mismatch=False)
    if options.fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    calibrator = None
    if options.int8:
        from iid_rdepth_ros.export.int8_calibrator import make_calibrator

        config.set_flag(trt.BuilderFlag.INT8)
        assert options.calibration is not None
        calibrator = make_calibrator(
            options.calibration[meta["variant"]],
            cache_path=Path(str(timing_cache_path.parent / f"{meta['variant']}.int8.calib")))
        config.int8_calibrator = calibrator
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ValueError(f"TensorRT failed to build an engine from {onnx_path} "
                         "(see the TensorRT log above)")
    with atomic_path(timing_cache_path) as tmp:
        tmp.write_bytes(memoryview(config.get_timing_cache().serialize()).tobytes())
    del calibrator
    return memoryview(serialized).tobytes()
