"""The TensorRT 10 op-support checker flags what the ONNX parser would reject.

Graphs here are built with onnx.helper so each rule is exercised in isolation; the exported
model graphs themselves are checked in test_export_onnx.py.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from iid_rdepth_ros.export.trt_compat import check_onnx, load_op_table


def _graph(nodes: list, inputs: list, outputs: list, inits: tuple = (),
           opset: int = 17) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    return model


def _t(name: str, shape: list, dtype: int = TensorProto.FLOAT) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, dtype, shape)


def _grid_sample(mode: str) -> onnx.ModelProto:
    node = helper.make_node("GridSample", ["x", "grid"], ["y"], mode=mode, name="gs")
    return _graph([node], [_t("x", [1, 2, 4, 4]), _t("grid", [1, 4, 4, 2])],
                  [_t("y", [1, 2, 4, 4])])


def _resize(**attrs: object) -> onnx.ModelProto:
    scales = numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")
    node = helper.make_node("Resize", ["x", "", "scales"], ["y"], name="rs", **attrs)
    return _graph([node], [_t("x", [1, 2, 4, 4])], [_t("y", [1, 2, 8, 8])], [scales],
                  opset=18)  # `antialias` exists from opset 18


def test_table_is_loaded_with_its_support_flags() -> None:
    table = load_op_table()
    assert len(table) > 150
    assert table["Conv"].supported and "FP32" in table["Conv"].types
    assert not table["Unique"].supported
    assert "INT64" in table["ConstantOfShape"].types  # upstream "INF64" typo normalised


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
def test_grid_sample_supported_modes_pass(mode: str) -> None:
    report = check_onnx(_grid_sample(mode))
    assert report.ok, report.summary()
    assert report.op_counts == {"GridSample": 1}


def test_grid_sample_bicubic_is_rejected() -> None:
    report = check_onnx(_grid_sample("bicubic"))
    assert not report.ok and "bicubic" in report.summary()


@pytest.mark.parametrize(
    ("attrs", "ok", "words"),
    [
        ({"mode": "linear", "coordinate_transformation_mode": "pytorch_half_pixel"}, True, ""),
        ({"mode": "nearest", "nearest_mode": "floor",
          "coordinate_transformation_mode": "asymmetric"}, True, ""),
        ({"mode": "cubic"}, False, "mode 'cubic'"),
        ({"mode": "linear", "coordinate_transformation_mode": "tf_crop_and_resize"}, False,
         "tf_crop_and_resize"),
        ({"mode": "linear", "antialias": 1}, False, "antialias"),
    ],
)
def test_resize_restrictions(attrs: dict, ok: bool, words: str) -> None:
    report = check_onnx(_resize(**attrs))
    assert report.ok is ok, report.summary()
    assert words in report.summary()


def test_unsupported_and_unknown_ops_custom_domains_and_types() -> None:
    unique = helper.make_node("Unique", ["x"], ["y"], name="u")
    report = check_onnx(_graph([unique], [_t("x", [4])], [_t("y", [None])]))
    assert not report.ok and "unsupported" in report.summary()

    custom = helper.make_node("MyPlugin", ["x"], ["y"], domain="com.example", name="p")
    graph = helper.make_graph([custom], "g", [_t("x", [4])], [_t("y", [4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.example", 1)])
    report = check_onnx(model)
    assert not report.ok and "plugin" in report.summary()

    double = helper.make_node("Relu", ["x"], ["y"], name="r")
    report = check_onnx(_graph([double], [_t("x", [4], TensorProto.DOUBLE)],
                               [_t("y", [4], TensorProto.DOUBLE)]))
    assert not report.ok and "FP64" in report.summary()


def test_constant_axes_pooling_dilations_and_opset_range() -> None:
    squeeze = helper.make_node("Squeeze", ["x", "axes"], ["y"], name="sq")
    runtime_axes = _graph([squeeze], [_t("x", [1, 4]), _t("axes", [1], TensorProto.INT64)],
                          [_t("y", [4])])
    assert "build-time constant" in check_onnx(runtime_axes).summary()
    axes = numpy_helper.from_array(np.array([0], np.int64), "axes")
    constant_axes = _graph([squeeze], [_t("x", [1, 4])], [_t("y", [4])], [axes])
    assert check_onnx(constant_axes).ok

    pool = helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], dilations=[2, 2],
                            name="mp")
    report = check_onnx(_graph([pool], [_t("x", [1, 1, 8, 8])], [_t("y", [1, 1, 6, 6])]))
    assert "dilations" in report.summary()

    relu = helper.make_node("Relu", ["x"], ["y"], name="r")
    report = check_onnx(_graph([relu], [_t("x", [4])], [_t("y", [4])], opset=21))
    assert not report.ok and "opset 21" in report.summary()
    assert report.to_dict()["ok"] is False
