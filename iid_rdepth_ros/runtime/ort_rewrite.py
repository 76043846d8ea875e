"""Graph rewrites that make ONNX Runtime's CPU provider faster without changing the maths.

Applied in memory when the onnxruntime backend loads a graph; the exported files stay as they
are (TensorRT gets the plain graph). Each rewrite uses standard ONNX ops only.

- ``Softmax`` / ``LogSoftmax`` over a non-last axis (channel softmax of an NCHW tensor, as in
  the bin head and the convex upsampler) runs transposed and row-by-row in ONNX Runtime,
  tens of times slower than its vectorised element-wise kernels. It is rewritten as
  ``exp(x - max) / sum(exp(x - max))`` along that axis (the same max-shifted formula).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import onnx


def _opset(model: onnx.ModelProto) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def _ranks(model: onnx.ModelProto) -> dict[str, int]:
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model)
    graph = inferred.graph
    ranks = {}
    for vi in list(graph.input) + list(graph.output) + list(graph.value_info):
        if vi.type.tensor_type.HasField("shape"):
            ranks[vi.name] = len(vi.type.tensor_type.shape.dim)
    return ranks


def decompose_channel_softmax(model: onnx.ModelProto) -> tuple[onnx.ModelProto, int]:
    """Rewrite non-last-axis (Log)Softmax nodes in place; returns the model and the count."""
    import numpy as np
    from onnx import helper, numpy_helper

    opset = _opset(model)
    if opset < 13:
        return model, 0
    ranks = _ranks(model)
    graph = model.graph
    nodes: list[onnx.NodeProto] = []
    rewritten = 0
    for node in graph.node:
        rank = ranks.get(node.input[0]) if node.input else None
        axis = next((a.i for a in node.attribute if a.name == "axis"), -1)
        if node.op_type not in ("Softmax", "LogSoftmax") or node.domain not in ("", "ai.onnx") \
                or rank is None or axis % rank == rank - 1:
            nodes.append(node)
            continue
        axis %= rank
        base = f"{node.name or node.output[0]}/decomposed"
        axes_name = f"{base}/axes"
        graph.initializer.append(numpy_helper.from_array(np.array([axis], np.int64), axes_name))
        x, y = node.input[0], node.output[0]
        if opset >= 18:
            reduce_max = helper.make_node("ReduceMax", [x, axes_name], [f"{base}/max"],
                                          keepdims=1)
        else:
            reduce_max = helper.make_node("ReduceMax", [x], [f"{base}/max"], axes=[axis],
                                          keepdims=1)
        nodes += [
            reduce_max,
            helper.make_node("Sub", [x, f"{base}/max"], [f"{base}/shifted"]),
            helper.make_node("Exp", [f"{base}/shifted"], [f"{base}/exp"]),
            helper.make_node("ReduceSum", [f"{base}/exp", axes_name], [f"{base}/sum"],
                             keepdims=1),
        ]
        if node.op_type == "Softmax":
            nodes.append(helper.make_node("Div", [f"{base}/exp", f"{base}/sum"], [y]))
        else:
            nodes += [helper.make_node("Log", [f"{base}/sum"], [f"{base}/logsum"]),
                      helper.make_node("Sub", [f"{base}/shifted", f"{base}/logsum"], [y])]
        rewritten += 1
    del graph.node[:]
    graph.node.extend(nodes)
    return model, rewritten
