"""Every TensorRT Python name our code uses exists in the real bindings of 10.x and 11.x.

The bindings wheels (``tensorrt-cu12-bindings`` 10.3.0 / 10.12 / 10.16, ``tensorrt-cu13-bindings``
11.4) are installed by ``make venv`` into ``.venv/trt-bindings/<version>/``; their API is read
with stand-in libraries (``test/helpers/trt_bindings.py``), no TensorRT libraries or GPU. The
build and the runner's engine session then run against API-exact fakes of each version: a
name the version lacks is an AttributeError. What never runs here: TensorRT itself
(``test_tensorrt_build.py`` builds real engines where TensorRT and a GPU exist).
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from trt_bindings import fake_tensorrt, installed_bindings, list_api

import iid_rdepth_ros.export.tensorrt_build as build_module
import iid_rdepth_ros.runtime.tensorrt_runner as runner_module
from iid_rdepth_ros.artifacts.errors import RunnerError
from iid_rdepth_ros.export.tensorrt_build import (
    STRONG_TYPING_FROM,
    WEAK_TYPING_FLAGS,
    BuildOptions,
    attach_timing_cache,
    plan_build,
    timing_cache_path,
)

BINDINGS = installed_bindings()
#: versions the Makefile installs: JetPack 6's 10.3, the first and the last strongly typed
#: 10.x we know, and 11 (what `pip install tensorrt` gives)
EXPECTED = ("10.3", "10.12", "10.16", "11.4")
pytestmark = pytest.mark.skipif(
    not BINDINGS, reason="TensorRT bindings not installed under .venv/trt-bindings (run "
                         "`make venv`; they come from PyPI)")
SOURCES = [Path(build_module.__file__), Path(runner_module.__file__)]


@pytest.fixture(scope="module", params=sorted(BINDINGS), ids=str)
def api(request: pytest.FixtureRequest):
    return list_api(BINDINGS[request.param])


def test_the_makefile_versions_are_installed() -> None:
    assert set(EXPECTED) <= set(BINDINGS), sorted(BINDINGS)


def trt_chains(path: Path) -> dict[str, int]:
    """``tensorrt.A.B`` -> first line, for every ``trt.A.B`` attribute chain in ``path``."""
    tree = ast.parse(path.read_text("utf-8"))
    inner = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    found: dict[str, int] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and id(node) not in inner:
            parts, cur = [], node
            while isinstance(cur, ast.Attribute):
                parts.append(cur.attr)
                cur = cur.value
            if isinstance(cur, ast.Name) and cur.id == "trt":
                found.setdefault("tensorrt." + ".".join(reversed(parts)), node.lineno)
    return found


def test_every_trt_attribute_in_the_source_exists(api) -> None:
    missing = [f"{path.name}:{line} {name}" for path in SOURCES
               for name, line in trt_chains(path).items() if not api.has(name)]
    assert not missing, f"missing in TensorRT {api.version}: {missing}"


def test_weak_typing_flags_exist_where_weak_typing_is_used(api) -> None:
    flags = {name for names in WEAK_TYPING_FLAGS.values() for name in names}
    if api.version_tuple < STRONG_TYPING_FROM:
        assert all(api.has(f"tensorrt.BuilderFlag.{f}") for f in flags)
    assert api.has("tensorrt.NetworkDefinitionCreationFlag.STRONGLY_TYPED")


def test_tensorrt_11_lacks_the_names_the_old_code_used() -> None:
    """Why this module exists: TensorRT 11 has no weak typing and no calibrators."""
    eleven = [v for v in BINDINGS if v.startswith("11.")]
    if not eleven:
        pytest.skip("no TensorRT 11 bindings installed")
    api = list_api(BINDINGS[eleven[0]])
    for name in ("BuilderFlag.FP16", "BuilderFlag.INT8", "IInt8EntropyCalibrator2",
                 "IBuilderConfig.int8_calibrator", "NetworkDefinitionCreationFlag.EXPLICIT_BATCH",
                 "BuilderFlag.OBEY_PRECISION_CONSTRAINTS"):
        assert not api.has(f"tensorrt.{name}"), name
    assert not any("IInt8" in name or "int8_calibrator" in name
                   for path in SOURCES for name in trt_chains(path))


# ------------------------------------------------------------------ the build, faked


def build_returns(parse_ok: bool = True, cache_ok: tuple[bool, ...] = (True,)) -> dict[str, Any]:
    answers = iter(cache_ok)
    return {
        "Logger": "Logger", "Builder": "Builder", "OnnxParser": "OnnxParser",
        "Builder.create_network": "INetworkDefinition",
        "Builder.create_builder_config": "IBuilderConfig",
        "Builder.build_serialized_network": b"engine bytes",
        "IBuilderConfig.set_memory_pool_limit": None,
        "IBuilderConfig.create_timing_cache": "ITimingCache",
        "IBuilderConfig.set_timing_cache": lambda *a: next(answers),
        "IBuilderConfig.get_timing_cache": "ITimingCache",
        "IBuilderConfig.set_flag": None,
        "ITimingCache.serialize": b"timing cache",
        "OnnxParser.parse_from_file": parse_ok, "OnnxParser.num_errors": 1,
        "OnnxParser.get_error": "ParserError",
    }


@pytest.mark.parametrize("precision", sorted(WEAK_TYPING_FLAGS))
def test_build_runs_under_each_version(api, precision: str, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    trt, used = fake_tensorrt(api, build_returns())
    monkeypatch.setattr(build_module, "lazy_import", lambda *a, **k: trt)
    plan = plan_build(api.version, precision)
    cache = tmp_path / "timing.cache"
    blob = build_module._build(tmp_path / "g.onnx", BuildOptions(), plan, cache)
    assert blob == b"engine bytes" and cache.read_bytes() == b"timing cache"
    strong = api.version_tuple >= STRONG_TYPING_FROM
    assert plan.strongly_typed == strong
    assert plan.flags == (() if strong else WEAK_TYPING_FLAGS[precision])
    assert ("tensorrt.NetworkDefinitionCreationFlag.STRONGLY_TYPED" in used) == strong
    assert {n for n in used if n.startswith("tensorrt.BuilderFlag.")} == \
        {f"tensorrt.BuilderFlag.{f}" for f in plan.flags}
    assert all(api.has(n) for n in used)


def test_strong_typing_uses_this_versions_enum_value(api) -> None:
    """STRONGLY_TYPED is 1 in 10.x and 0 in 11.x: the creation flag is computed, never stored."""
    seen: list[int] = []
    returns = build_returns()
    returns["Builder.create_network"] = lambda flags: seen.append(flags) or None
    trt, _ = fake_tensorrt(api, returns)
    builder = trt.Builder(trt.Logger(trt.Logger.WARNING))
    build_module.configure(trt, builder, plan_build(api.version, "fp16"), 1.0, b"")
    value = api.values["tensorrt.NetworkDefinitionCreationFlag.STRONGLY_TYPED"]
    assert seen == [1 << value if api.version_tuple >= STRONG_TYPING_FROM else 0]


def test_parse_errors_are_reported(api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trt, _ = fake_tensorrt(api, build_returns(parse_ok=False))
    monkeypatch.setattr(build_module, "lazy_import", lambda *a, **k: trt)
    with pytest.raises(ValueError, match="could not parse"):
        build_module._build(tmp_path / "g.onnx", BuildOptions(), plan_build(api.version, "fp32"),
                            tmp_path / "c")


def test_a_refused_timing_cache_is_replaced_and_noted(api) -> None:
    trt, _ = fake_tensorrt(api, build_returns(cache_ok=(False, True)))
    config = trt.Builder(trt.Logger(trt.Logger.WARNING)).create_builder_config()
    notes: list[str] = []
    attach_timing_cache(config, b"stale", notes)
    assert len(notes) == 1 and "refused" in notes[0]
    trt, _ = fake_tensorrt(api, build_returns(cache_ok=(False, False)))
    config = trt.Builder(trt.Logger(trt.Logger.WARNING)).create_builder_config()
    with pytest.raises(ValueError, match="empty timing cache"):
        attach_timing_cache(config, b"stale", [])


def test_timing_cache_is_keyed_by_tensorrt_and_gpu(tmp_path: Path) -> None:
    a = timing_cache_path(tmp_path, {"tensorrt_version": "10.3.0", "gpu_name": "Orin (nvgpu)",
                                     "compute_capability": "8.7"})
    b = timing_cache_path(tmp_path, {"tensorrt_version": "11.4.0.106",
                                     "gpu_name": "NVIDIA H200", "compute_capability": "9.0"})
    assert a.name == "timing-10.3.0-Orin_nvgpu-sm8.7.cache" and a != b


# ------------------------------------------------------------ the runner's session, faked


class FakeCuda:
    """pycuda.driver as far as the engine session uses it (numpy memory)."""

    class Stream:
        handle = 7

        def synchronize(self) -> None:
            pass

    class Allocation:
        def __init__(self, nbytes: int) -> None:
            self.data = np.zeros(nbytes, np.uint8)

        def __int__(self) -> int:
            return self.data.ctypes.data

        def free(self) -> None:
            pass

    pagelocked_empty = staticmethod(np.empty)
    mem_alloc = Allocation

    @staticmethod
    def memcpy_htod_async(device: Any, host: np.ndarray, stream: Any) -> None:
        device.data[:host.nbytes] = host.reshape(-1).view(np.uint8)

    @staticmethod
    def memcpy_dtoh_async(host: np.ndarray, device: Any, stream: Any) -> None:
        host.reshape(-1).view(np.uint8)[:] = device.data[:host.nbytes]


INPUTS = ("image", "aux", "fb")


def _session(api, shapes: dict[str, tuple], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
             ) -> tuple[Any, list[str], set[str]]:
    """An engine session over API-exact fakes of ``api`` whose engine has ``shapes`` (inputs:
    the names in INPUTS); returns (session factory, tensor-address calls, names used)."""
    calls: list[str] = []
    returns: dict[str, Any] = {
        "Logger": "Logger", "Runtime": "Runtime",
        "Runtime.deserialize_cuda_engine": "ICudaEngine",
        "ICudaEngine.create_execution_context": "IExecutionContext",
        "ICudaEngine.num_io_tensors": len(shapes),
        "ICudaEngine.get_tensor_name": lambda i: list(shapes)[i],
        "ICudaEngine.get_tensor_shape": lambda name: shapes[name],
        "IExecutionContext.set_tensor_address": lambda name, ptr: calls.append(name),
        "IExecutionContext.execute_async_v3": True,
        "nptype": lambda dtype: np.float32,
    }
    trt, used = fake_tensorrt(api, returns)
    returns["ICudaEngine.get_tensor_dtype"] = lambda name: trt.DataType.FLOAT
    returns["ICudaEngine.get_tensor_mode"] = lambda name: (
        trt.TensorIOMode.INPUT if name in INPUTS else trt.TensorIOMode.OUTPUT)
    monkeypatch.setattr(runner_module, "lazy_import",
                        lambda name, *a: FakeCuda if name == "pycuda.driver" else trt)
    engine = tmp_path / "model.fp32.engine"
    engine.write_bytes(b"engine")
    return (lambda: runner_module._EngineSession(engine)), calls, used


@pytest.mark.parametrize("variant", ["mono", "stereo"])
def test_engine_session_runs_under_each_version(api, variant: str, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    shapes = {"image": (1, 3, 4, 6), "depth": (1, 1, 4, 6)}
    if variant == "stereo":  # the geometry-first stereo graph: depth and confidence out
        shapes = {"image": (1, 3, 4, 6), "aux": (1, 3, 4, 6), "fb": (1,),
                  "depth": (1, 1, 4, 6), "confidence": (1, 1, 4, 6)}
    make, calls, used = _session(api, shapes, tmp_path, monkeypatch)
    session = make()
    feeds = {name: np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
             for name, shape in shapes.items() if name in INPUTS}
    out = session.run(feeds)
    assert calls == list(shapes)
    if variant == "mono":
        assert out.shape == shapes["depth"]
    else:  # every output by name: depth and the matcher's confidence
        assert set(out) == {"depth", "confidence"}
        assert all(out[k].shape == shapes[k] and out[k].dtype == np.float32 for k in out)
    session.free()
    assert all(api.has(n) for n in used)
    assert "tensorrt.IExecutionContext.execute_async_v3" in used


def test_an_engine_without_depth_is_refused(api, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    make, _, _ = _session(api, {"image": (1, 3, 4, 6), "disparity": (1, 1, 4, 6)}, tmp_path,
                          monkeypatch)
    with pytest.raises(RunnerError, match=r"has no 'depth' output \(outputs: disparity\)"):
        make()
