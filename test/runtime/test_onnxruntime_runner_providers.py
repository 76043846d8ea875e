"""ONNX Runtime execution providers: CPU, CUDA or TensorRT where installed, a clear error else."""

from __future__ import annotations

import onnxruntime as ort
import pytest

from iid_rdepth_ros.artifacts.errors import RunnerError
from iid_rdepth_ros.runtime import RunnerConfig
from iid_rdepth_ros.runtime.onnxruntime_runner import PROVIDER_NAMES, select_providers

AVAILABLE = ort.get_available_providers()


def _names(chain: list) -> list[str]:
    return [p[0] if isinstance(p, tuple) else p for p in chain]


def test_auto_and_cpu() -> None:
    auto = _names(select_providers(ort, RunnerConfig()))
    cuda = PROVIDER_NAMES["cuda"] in AVAILABLE
    assert auto == ([PROVIDER_NAMES["cuda"]] if cuda else []) + ["CPUExecutionProvider"]
    assert _names(select_providers(ort, RunnerConfig(device="cpu"))) == ["CPUExecutionProvider"]
    assert _names(select_providers(ort, RunnerConfig(ort_provider="cpu"))) == \
        ["CPUExecutionProvider"]


@pytest.mark.parametrize("choice", ["cuda", "tensorrt"])
def test_gpu_providers_where_installed_else_a_clear_error(choice: str, tmp_path) -> None:
    config = RunnerConfig(ort_provider=choice, cache_dir=str(tmp_path))
    if PROVIDER_NAMES[choice] not in AVAILABLE:
        with pytest.raises(RunnerError, match=f"no {PROVIDER_NAMES[choice]}.*onnxruntime-gpu"):
            select_providers(ort, config)
        return
    chain = select_providers(ort, config)
    assert _names(chain)[0] == PROVIDER_NAMES[choice] and _names(chain)[-1] == \
        "CPUExecutionProvider"
    if choice == "tensorrt":
        assert chain[0][1]["trt_engine_cache_path"].startswith(str(tmp_path))
