"""Benchmark: a real (tiny) sweep in subprocesses, the summaries, FLOP counting, matmul peak."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from iid_rdepth_ros.bench.matmul_peak import measure_matmul_peak
from iid_rdepth_ros.bench.sweep import SweepOptions, cases, summarise
from iid_rdepth_ros.cli.main import main
from iid_rdepth_ros.export.flops import count_flops
from iid_rdepth_ros.model import build_model, get_preset
from iid_rdepth_ros.model.checkpoint import save_checkpoint


def test_flops_of_dense_ops_match_their_definition() -> None:
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.random((8, 2, 3, 3), dtype=np.float32), "w")  # groups=2
    b = numpy_helper.from_array(rng.random((32, 5), dtype=np.float32), "b")
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], group=2),
        helper.make_node("Reshape", ["c", "shape"], ["r"]),
        helper.make_node("MatMul", ["r", "b"], ["m"]),
        helper.make_node("Relu", ["m"], ["y"]),
    ]
    shape = numpy_helper.from_array(np.array([80, 32], np.int64), "shape")
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 10, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [80, 5])], [w, b, shape])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    report = count_flops(model)
    conv = 2 * (1 * 8 * 10 * 8) * (2 * 3 * 3)  # outputs x (Cin/groups * kh * kw) MACs
    matmul = 2 * 80 * 5 * 32
    assert report.by_op["Conv"] == conv and report.by_op["MatMul"] == matmul
    assert report.dense == conv + matmul
    assert report.by_op["Relu"] == 80 * 5 and "Reshape" not in report.by_op
    assert report.total == conv + matmul + 400


def test_summaries_from_rows() -> None:
    rows = []
    for backend, speed in (("torch", 1.0), ("onnxruntime", 2.0)):
        for variant, extra in (("mono", 0.0), ("stereo", 5.0)):
            for t in (1, 2, 4, 8):
                ms = (10.0 + extra + 3.0 * t) / speed
                rows.append({"backend": backend, "variant": variant, "steps": t, "height": 64,
                             "width": 192, "latency_ms_median": ms, "latency_ms_min": ms,
                             "throughput_fps": 1e3 / ms})
    rows.append({"backend": "torch", "variant": "mono", "steps": 16, "height": 64,
                 "width": 192, "error": "timed out"})
    s = summarise(rows)
    assert all(x["ort_over_torch"] == pytest.approx(2.0) for x in s["ort_over_torch_throughput"])
    ratio = {(x["backend"], x["steps"]): x["stereo_over_mono"]
             for x in s["stereo_over_mono_latency"]}
    assert ratio[("torch", 1)] == pytest.approx(18.0 / 13.0)
    steps = {(x["backend"], x["variant"]): x for x in s["diffusion_step_cost"]}
    assert steps[("torch", "mono")]["ms_per_step"] == pytest.approx(3.0)
    assert steps[("onnxruntime", "stereo")]["ms_without_diffusion"] == pytest.approx(7.5)


def test_matmul_peak_is_measured() -> None:
    peak = measure_matmul_peak(size=256, repeats=3, threads=1)
    assert peak["flops_per_s"] > 1e8 and peak["threads"] == 1
    assert peak["flops_per_s"] == pytest.approx(2 * 256**3 / peak["seconds"])


def test_tiny_sweep_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch.set_num_threads(1)
    save_checkpoint(tmp_path / "net", build_model(get_preset("lite0-96x320")))
    out = tmp_path / "bench"
    argv = ["bench", "--model", str(tmp_path / "net"), "--backends", "torch,onnxruntime",
            "--variants", "mono,stereo", "--steps", "1", "--sizes", "64x192", "--repeats",
            "3", "--warmup", "1", "--threads", "1", "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    result = json.loads((out / "bench.json").read_text())
    rows = result["rows"]
    rows = [r for r in rows if r.get("device", "cpu") == "cpu"]
    assert len(rows) == 4 and not [r for r in rows if "error" in r]
    for r in rows:
        assert 0 < r["latency_ms_min"] <= r["latency_ms_median"] <= r["latency_ms_p95"]
        assert r["throughput_fps"] > 0 and r["rss_delta_mib"] > 0 and r["rss_peak_mib"] > 50
        assert r["dense_gflop"] > 0 and 0 < r["peak_fraction"] < 1.5
        assert (r["time_by_op"] is not None) == (r["backend"] == "onnxruntime")
    by = {(r["backend"], r["variant"]): r for r in rows}
    assert by[("torch", "stereo")]["dense_gflop"] > by[("torch", "mono")]["dense_gflop"]
    assert len(result["summary"]["ort_over_torch_throughput"]) == 2
    assert result["matmul_peak"]["flops_per_s"] > 0
    md = (out / "bench.md").read_text()
    assert "iid-rdepth bench --model" in md and md.count("| onnxruntime |") >= 2
    if not torch.cuda.is_available():  # GPU rows are skipped with the reason
        assert result["gpu_rows"].startswith("skipped: no CUDA device")
        assert "GPU rows: skipped: no CUDA device" in md
    else:
        gpu = [r for r in rows if r.get("device") == "cuda"]
        assert result["gpu_rows"] == "measured" and gpu
    assert "wrote" in capsys.readouterr().out


def test_gpu_cases_per_configuration() -> None:
    options = SweepOptions(model="m", backends=("torch", "onnxruntime"), variants=("mono",),
                           steps=(4,), sizes=((192, 640),),
                           gpu_modes=(("off", "fp32"), ("capture", "fp16")))
    assert len(cases(options)) == 2
    gpu = [c for c in cases(options, gpu=True) if c.device == "cuda"]
    assert [(c.backend, c.cuda_graphs, c.precision) for c in gpu] == \
        [("torch", "off", "fp32"), ("torch", "capture", "fp16")]
    assert gpu[1].label == "torch/mono/T4/192x640/cuda/graphs-capture/fp16"
    no_torch = SweepOptions(model="m", backends=("onnxruntime",), variants=("mono",),
                            steps=(4,), sizes=((192, 640),))
    assert all(c.device == "cpu" for c in cases(no_torch, gpu=True))


def test_gpu_mode_option_is_checked(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--gpu-modes", "capture:fp8"]) == 2
    err = capsys.readouterr().err.strip()
    assert "CUDA_GRAPHS:PRECISION" in err and len(err.splitlines()) == 1, err
