"""FP16 and INT8 (QDQ) graphs: structure TensorRT needs, accuracy with ONNX Runtime, the export.

The accuracy target (INT8 AbsRel loss <= 0.005 against FP32 on synth-street frames) is checked
on the shipped ``default`` checkpoint at its own size (192x640, T=4); the rest runs on a tiny
untrained model.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from iid_rdepth_ros.artifacts.onnx_meta import get_metadata
from iid_rdepth_ros.cli.main import main
from iid_rdepth_ros.export.onnx_export import export_checkpoint
from iid_rdepth_ros.export.precision import (
    INT8_MAX_ABSREL_LOSS,
    PrecisionOptions,
    convert_fp16,
    graph_precision,
    int8_excluded_nodes,
    measure_accuracy,
    network_feeds,
    open_frames,
    pick,
    quantize_int8,
    reference_graph,
    rendered_frames,
    topological_sort,
)
from iid_rdepth_ros.export.trt_compat import check_onnx


@pytest.fixture(scope="module")
def fp32(untrained_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fp32")
    export_checkpoint(str(untrained_checkpoint), out, 64, 192, steps=1, verify=False)
    return out


def _producers_first(model: onnx.ModelProto) -> bool:
    seen = {i.name for i in model.graph.input} | {t.name for t in model.graph.initializer}
    for node in model.graph.node:
        if not all(n in seen or n == "" for n in node.input):
            return False
        seen.update(node.output)
    return True


def test_topological_sort_orders_and_refuses_dangling_inputs() -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    nodes = [helper.make_node("Relu", ["a"], ["y"], name="second"),
             helper.make_node("Neg", ["x"], ["a"], name="first")]
    model = helper.make_model(helper.make_graph(nodes, "g", [x], [y]))
    assert not _producers_first(model)
    topological_sort(model)
    assert [n.name for n in model.graph.node] == ["first", "second"]
    onnx.checker.check_model(model)
    broken = helper.make_model(helper.make_graph(
        [helper.make_node("Relu", ["nowhere"], ["y"])], "g", [x], [y]))
    with pytest.raises(ValueError, match="nowhere"):
        topological_sort(broken)


def test_fp16_graph_keeps_float32_io_and_tracks_fp32(fp32: Path, tiny_synth: Path,
                                                     tmp_path: Path) -> None:
    for variant in ("mono", "stereo"):
        path = convert_fp16(fp32 / f"{variant}.onnx", tmp_path / f"{variant}.onnx")
        model = onnx.load(str(path))
        assert graph_precision(model) == "fp16" and _producers_first(model)
        assert get_metadata(model)["variant"] == variant
        io = list(model.graph.input) + list(model.graph.output)
        assert all(v.type.tensor_type.elem_type == TensorProto.FLOAT for v in io)
        assert any(t.data_type == TensorProto.FLOAT16 for t in model.graph.initializer)
        assert check_onnx(path).ok, check_onnx(path).summary()
        report = measure_accuracy(fp32 / f"{variant}.onnx", path,
                                  pick(open_frames(tiny_synth), 2), threads=1)
        assert report.frames == 2 and 0 < report.rel_mean_vs_fp32 < 5e-3


def test_int8_graph_is_qdq_with_the_fragile_parts_in_float(fp32: Path, tiny_synth: Path,
                                                           tmp_path: Path) -> None:
    src = fp32 / "stereo.onnx"
    meta = get_metadata(src)
    frames = pick(open_frames(tiny_synth), 3)
    counts = quantize_int8(src, tmp_path / "stereo.onnx", (network_feeds(f, meta)
                                                          for f in frames))
    model = onnx.load(str(tmp_path / "stereo.onnx"))
    assert graph_precision(model) == "int8" and counts["quantize_nodes"] > 20
    kept = set(int8_excluded_nodes(onnx.load(str(src)), PrecisionOptions("int8")))
    assert any("/model/bcp/" in n for n in kept)
    assert any(n.op_type == "Conv" and any(a.name == "group" and a.i > 1 for a in n.attribute)
               and n.name in kept for n in model.graph.node)
    dequantized = {o for n in model.graph.node if n.op_type == "DequantizeLinear"
                   for o in n.output}
    for node in model.graph.node:  # kept nodes read float tensors, quantized ones DQ outputs
        if node.name in kept:
            assert not dequantized & set(node.input), node.name
    inits = {t.name: t for t in model.graph.initializer}
    zero_points = [inits[n.input[2]] for n in model.graph.node
                   if n.op_type in ("QuantizeLinear", "DequantizeLinear") and len(n.input) > 2]
    assert zero_points and all(not onnx.numpy_helper.to_array(z).any() for z in zero_points)
    assert check_onnx(model).ok, check_onnx(model).summary()
    report = measure_accuracy(src, tmp_path / "stereo.onnx", frames[:2], threads=1)
    assert np.isfinite(report.rel_mean_vs_fp32) and report.rel_mean_vs_fp32 < 0.1


def test_export_precision_cli_writes_graphs_reference_and_accuracy(
        untrained_checkpoint: Path, tiny_synth: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "int8"
    code = main(["export", "--model", str(untrained_checkpoint), "--out", str(out),
                 "--height", "64", "--width", "192", "--steps", "1", "--no-verify",
                 "--precision", "int8", "--calib", str(tiny_synth), "--calib-frames", "2",
                 "--eval", str(tiny_synth), "--eval-frames", "2"])
    text = capsys.readouterr().out
    assert code in (0, 1), text  # 1 only if the untrained model misses the INT8 target
    sidecar = json.loads((out / "export.json").read_text())
    assert sidecar["precision"] == "int8" and sidecar["reference_dir"] == "fp32"
    assert "^/model/bcp/" in sidecar["precision_recipe"]["kept_in_float"]
    for variant in ("mono", "stereo"):
        graph = out / f"{variant}.onnx"
        assert graph_precision(graph) == "int8"
        assert reference_graph(graph) == out / "fp32" / f"{variant}.onnx"
        accuracy = sidecar["graphs"][variant]["accuracy_vs_fp32"]
        assert accuracy["frames"] == 2 and "meets_int8_target" in accuracy
    assert text.count("vs FP32 (ONNX Runtime, 2 frames)") == 2
    assert graph_precision(out / "fp32" / "mono.onnx") == "fp32"
    assert reference_graph(out / "fp32" / "mono.onnx") == out / "fp32" / "mono.onnx"


@pytest.mark.parametrize(
    ("extra", "words"),
    [(["--precision", "int8"], "--calib"),
     (["--precision", "fp16", "--calib", "{tmp}"], "int8 only"),
     (["--eval", "{tmp}"], "fp16 or int8"),
     (["--precision", "int8", "--calib", "/no/such/dir"], "does not exist")],
)
def test_precision_option_errors_are_one_line(extra: list[str], words: str,
                                              untrained_checkpoint: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["export", "--model", str(untrained_checkpoint), "--out", str(tmp_path / "o"),
            *[a.format(tmp=tmp_path) for a in extra]]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err, err


@pytest.mark.slow
def test_int8_of_the_shipped_model_meets_the_absrel_target(tmp_path: Path) -> None:
    """The shipped ``default`` at 192x640, T=4, mono: INT8 calibrated on 16 synth-street frames
    (seed 7) loses at most INT8_MAX_ABSREL_LOSS AbsRel against FP32 on 8 others (seed 11,
    KITTI-sized). Stereo (slower) is measured by ``iid-rdepth export --precision int8``, see
    benchmarks/README.md."""
    export_checkpoint("default", tmp_path / "fp32", 192, 640, verify=False)
    src = tmp_path / "fp32" / "mono.onnx"
    meta = get_metadata(src)
    calib = rendered_frames(16, seed=7, size=(192, 640))
    quantize_int8(src, tmp_path / "mono.onnx", (network_feeds(f, meta) for f in calib))
    report = measure_accuracy(src, tmp_path / "mono.onnx", rendered_frames(8), threads=2)
    assert report.absrel_loss is not None
    assert report.absrel_loss <= INT8_MAX_ABSREL_LOSS, report.to_dict()
