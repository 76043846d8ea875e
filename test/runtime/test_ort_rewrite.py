"""ONNX Runtime graph rewrite: channel (Log)Softmax as element-wise ops, same results."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from iid_rdepth_ros.export.trt_compat import check_onnx
from iid_rdepth_ros.runtime.ort_rewrite import decompose_channel_softmax


def _model(opset: int) -> onnx.ModelProto:
    nodes = [
        helper.make_node("Softmax", ["x"], ["a"], axis=1, name="channel"),
        helper.make_node("LogSoftmax", ["a"], ["b"], axis=-3, name="log_channel"),
        helper.make_node("Softmax", ["b"], ["y"], axis=-1, name="last"),
    ]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 5, 3, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5, 3, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    return model


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


@pytest.mark.parametrize("opset", [17, 18])
def test_rewrite_keeps_results_and_last_axis_softmax(opset: int) -> None:
    x = np.random.default_rng(0).normal(size=(1, 5, 3, 4)).astype(np.float32) * 4
    model = _model(opset)
    before = _run(model, x)
    rewritten, count = decompose_channel_softmax(_model(opset))
    assert count == 2
    ops = [n.op_type for n in rewritten.graph.node]
    assert ops.count("Softmax") == 1 and "LogSoftmax" not in ops  # last-axis one untouched
    onnx.checker.check_model(rewritten, full_check=True)
    np.testing.assert_allclose(_run(rewritten, x), before, rtol=1e-5, atol=1e-7)
    assert check_onnx(rewritten).ok  # still only ops TensorRT parses
