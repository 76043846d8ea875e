"""Engine sidecar rules (pure Python): what makes an engine reusable here, and what does not.

The TensorRT runner and builder themselves need ``tensorrt`` and a GPU; see
test_tensorrt_engine.py (skipped where TensorRT does not import).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from iid_rdepth_ros.artifacts.engine_sidecar import (
    engine_key,
    read_sidecar,
    sidecar_mismatches,
    sidecar_path,
    write_sidecar,
)
from iid_rdepth_ros.artifacts.files import sha256_file
from iid_rdepth_ros.runtime import RunnerConfig, RunnerError
from iid_rdepth_ros.runtime.tensorrt_runner import check_engine, partner_engine

ENV = {"tensorrt_version": "10.3.0", "gpu_name": "NVIDIA Jetson Orin",
       "compute_capability": "8.7"}


def _sidecar(**changes: object) -> dict:
    base = {**ENV, "precision": "fp16", "input_shapes": {"image": [1, 3, 192, 640]},
            "steps": 4, "variant": "mono", "onnx_sha256": "ab" * 32, "canonical_focal": 371.8}
    return {**base, **changes}


def test_matching_sidecar_has_no_problems() -> None:
    assert sidecar_mismatches(_sidecar(), ENV, onnx_sha256="ab" * 32, input_hw=(192, 640),
                              steps=4, variant="mono") == []


@pytest.mark.parametrize(
    ("field", "value", "words", "shown"),
    [
        ("tensorrt_version", "10.0.1", "TensorRT version", "10.0.1"),
        ("gpu_name", "NVIDIA GeForce RTX 4090", "GPU", "RTX 4090"),
        ("compute_capability", "8.9", "compute capability", "8.9"),
        ("onnx_sha256", "cd" * 32, "ONNX sha256", "cd" * 32),
        ("input_shapes", {"image": [1, 3, 352, 1216]}, "input size", "[352, 1216]"),
        ("steps", 8, "diffusion steps", "8"),
        ("variant", "stereo", "variant", "stereo"),
    ],
)
def test_each_difference_is_named(field: str, value: object, words: str, shown: str) -> None:
    problems = sidecar_mismatches(_sidecar(**{field: value}), ENV, onnx_sha256="ab" * 32,
                                  input_hw=(192, 640), steps=4, variant="mono")
    assert len(problems) == 1 and words in problems[0] and shown in problems[0]


def test_a_refined_stereo_engine_is_refused_when_the_refinement_is_off() -> None:
    refined = _sidecar(variant="stereo", stereo_refine=True)
    assert sidecar_mismatches(refined, ENV) == []  # stereo_refine on (the default) takes it
    problems = sidecar_mismatches(refined, ENV, stereo_refine=False)
    assert len(problems) == 1 and "--no-stereo-refine" in problems[0]
    plain = _sidecar(variant="stereo", stereo_refine=False)
    assert sidecar_mismatches(plain, ENV, stereo_refine=False) == []
    assert sidecar_mismatches(_sidecar(stereo_refine=True), ENV, stereo_refine=False) == []


def test_a_stereo_engine_of_another_search_range_is_refused() -> None:
    engine = _sidecar(variant="stereo", max_disparity=192)
    assert sidecar_mismatches(engine, ENV) == []  # None: whatever the engine has
    assert sidecar_mismatches(engine, ENV, max_disparity=192) == []
    problems = sidecar_mismatches(engine, ENV, max_disparity=96)
    assert problems == ["stereo max_disparity: engine has 192, configured 96 (build the engine "
                        "from 'iid-rdepth export --max-disparity 96')"]
    assert sidecar_mismatches(_sidecar(max_disparity=192), ENV, max_disparity=96) == []  # mono


def test_engine_key_changes_with_every_key_field() -> None:
    keys = {engine_key(_sidecar())}
    for field, value in [("precision", "int8"), ("steps", 2), ("gpu_name", "x"),
                         ("tensorrt_version", "10.1"), ("onnx_sha256", "0"),
                         ("variant", "stereo"), ("input_shapes", {"image": [1, 3, 64, 64]}),
                         ("compute_capability", "9.0")]:
        keys.add(engine_key(_sidecar(**{field: value})))
    assert len(keys) == 9
    assert engine_key(_sidecar(built_unix=1.0)) == engine_key(_sidecar())  # not a key field


def test_write_read_roundtrip_and_bad_files(tmp_path: Path) -> None:
    engine = tmp_path / "mono.fp16.engine"
    engine.write_bytes(b"\0" * 16)
    with pytest.raises(ValueError, match="missing"):
        read_sidecar(engine)
    write_sidecar(engine, _sidecar())
    data = read_sidecar(engine)
    assert data["steps"] == 4 and data["engine_key"] == engine_key(data)
    sidecar_path(engine).write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_sidecar(engine)
    sidecar_path(engine).write_text(json.dumps({"format": "iid-rdepth-engine/1"}))
    with pytest.raises(ValueError, match="lacks"):
        read_sidecar(engine)


def test_runner_check_refuses_a_stale_engine_with_the_reason(tmp_path: Path) -> None:
    onnx_file = tmp_path / "mono.onnx"
    onnx_file.write_bytes(b"graph v1")
    engine = tmp_path / "mono.fp16.engine"
    engine.write_bytes(b"\0")
    write_sidecar(engine, _sidecar(onnx_sha256=sha256_file(onnx_file),
                                   onnx_path=str(onnx_file)))
    config = RunnerConfig(backend="tensorrt", engine_path=str(engine))
    assert check_engine(engine, config, ENV)["variant"] == "mono"
    onnx_file.write_bytes(b"graph v2 (re-exported)")
    with pytest.raises(RunnerError, match="ONNX sha256.*--rebuild"):
        check_engine(engine, config, ENV)
    with pytest.raises(RunnerError, match="GPU compute capability"):
        check_engine(engine, config, {**ENV, "compute_capability": "7.5"})
    with pytest.raises(RunnerError, match="does not exist"):
        check_engine(tmp_path / "nope.engine", config, ENV)
    other = RunnerConfig(backend="tensorrt", engine_path=str(engine), input_height=352,
                         input_width=1216, diffusion_steps=2)
    onnx_file.write_bytes(b"graph v1")
    with pytest.raises(RunnerError, match="input size.*diffusion steps"):
        check_engine(engine, other, ENV)


def test_partner_engine_names() -> None:
    assert partner_engine(Path("/e/mono.fp16.engine"), "mono") == Path("/e/stereo.fp16.engine")
    assert partner_engine(Path("/e/stereo.int8.engine"), "stereo") == Path("/e/mono.int8.engine")
