"""Count a graph's floating-point operations from its ONNX shapes (after shape inference).

Dense ops (Conv, ConvTranspose, MatMul, Gemm) are counted exactly as 2 x multiply-accumulates;
every other op with a known output shape is counted as one FLOP per output element (a lower
bound for element-wise work, e.g. Softmax or GridSample cost a few times more). Dense FLOPs are
what a matmul-peak comparison should use.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import onnx

DENSE_OPS = ("Conv", "ConvTranspose", "MatMul", "Gemm")
#: Ops that move or reinterpret data without arithmetic.
NO_ARITHMETIC = {"Reshape", "Transpose", "Concat", "Slice", "Gather", "Squeeze", "Unsqueeze",
                 "Shape", "Constant", "ConstantOfShape", "Identity", "Flatten", "Expand",
                 "Split", "Cast", "Pad", "Tile", "Range", "DepthToSpace", "SpaceToDepth"}


@dataclass
class FlopReport:
    """FLOPs by op type; ``dense`` counts Conv/ConvTranspose/MatMul/Gemm only."""

    by_op: dict[str, int] = field(default_factory=dict)
    uncounted: dict[str, int] = field(default_factory=dict)  # op -> nodes with unknown shapes

    @property
    def dense(self) -> int:
        """FLOPs of the dense ops."""
        return sum(v for k, v in self.by_op.items() if k in DENSE_OPS)

    @property
    def total(self) -> int:
        """Dense plus element-wise estimate."""
        return sum(self.by_op.values())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"dense_flops": self.dense, "total_flops": self.total,
                "by_op": dict(sorted(self.by_op.items(), key=lambda kv: -kv[1])),
                "uncounted_nodes": self.uncounted}


def _shapes(model: onnx.ModelProto) -> dict[str, list[int]]:
    shapes: dict[str, list[int]] = {}
    graph = model.graph
    for vi in list(graph.input) + list(graph.output) + list(graph.value_info):
        dims = vi.type.tensor_type.shape.dim
        if vi.type.tensor_type.HasField("shape") and all(d.HasField("dim_value") for d in dims):
            shapes[vi.name] = [d.dim_value for d in dims]
    for init in graph.initializer:
        shapes[init.name] = list(init.dims)
    return shapes


def _attr(node: onnx.NodeProto, name: str, default: Any) -> Any:
    import onnx

    for attr in node.attribute:
        if attr.name == name:
            return onnx.helper.get_attribute_value(attr)
    return default


def _dense_macs(node: onnx.NodeProto, shapes: dict[str, list[int]]) -> int | None:
    op = node.op_type
    out = shapes.get(node.output[0])
    if op == "Conv":
        weight = shapes.get(node.input[1])
        if out is None or weight is None:
            return None
        return math.prod(out) * math.prod(weight[1:])  # each output: Cin/g * prod(kernel)
    if op == "ConvTranspose":
        inp, weight = shapes.get(node.input[0]), shapes.get(node.input[1])
        if inp is None or weight is None:
            return None
        return math.prod(inp) * math.prod(weight[1:])  # each input: Cout/g * prod(kernel)
    if op == "MatMul":
        a = shapes.get(node.input[0])
        if out is None or a is None:
            return None
        return math.prod(out) * a[-1]
    if op == "Gemm":
        a = shapes.get(node.input[0])
        if out is None or a is None:
            return None
        k = a[0] if _attr(node, "transA", 0) else a[-1]
        return math.prod(out) * k
    return None


def _elementwise_flops(node: onnx.NodeProto, shapes: dict[str, list[int]]) -> int | None:
    out = shapes.get(node.output[0]) if node.output else None
    op = node.op_type
    if op.startswith("Reduce") or op.startswith("Global"):  # one op per input element
        inp = shapes.get(node.input[0])
        return None if inp is None else math.prod(inp)
    if out is None:
        return None
    if op in ("AveragePool", "MaxPool"):
        return math.prod(out) * math.prod(_attr(node, "kernel_shape", [1]))
    if op in ("Softmax", "LogSoftmax"):  # exp, sum, divide
        return 3 * math.prod(out)
    return math.prod(out)


def count_flops(model: onnx.ModelProto | str | Path) -> FlopReport:
    """FLOPs of one forward pass of a fixed-shape graph (see module docstring)."""
    import onnx

    if not isinstance(model, onnx.ModelProto):
        model = onnx.load(str(model))
    model = onnx.shape_inference.infer_shapes(model)
    shapes = _shapes(model)
    flops: Counter[str] = Counter()
    uncounted: Counter[str] = Counter()
    for node in model.graph.node:
        if node.op_type in NO_ARITHMETIC:
            continue
        if node.op_type in DENSE_OPS:
            macs = _dense_macs(node, shapes)
            if macs is None:
                uncounted[node.op_type] += 1
            else:
                flops[node.op_type] += 2 * macs
            continue
        estimate = _elementwise_flops(node, shapes)
        if estimate is None:
            uncounted[node.op_type] += 1
        else:
            flops[node.op_type] += estimate
    return FlopReport(by_op=dict(flops), uncounted=dict(uncounted))
