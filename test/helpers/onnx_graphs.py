"""Tiny hand-made ONNX graph pairs with the exporter's interface, for tests of the runtime and
the node that are about everything but the network (transport, sizes, outputs).

``mono.onnx``: ``image (1,3,h,w) -> depth (1,1,h,w)``, depth = 2 + 20 * mean over channels
(metres at the canonical focal; a brighter pixel is farther). ``stereo.onnx`` adds ``aux``
and ``fb`` and a ``confidence`` output: 1 - |mean(image) - mean(aux)| per pixel, so a pair of
identical views has confidence 1. These are test fixtures, not models: no learned weights.
"""

from __future__ import annotations

from pathlib import Path

CANONICAL_FOCAL = 200.0


def write_tiny_graphs(out_dir: Path, height: int, width: int, confidence: bool = True
                      ) -> dict[str, Path]:
    """Write ``mono.onnx`` and ``stereo.onnx`` (size ``height x width``) into ``out_dir``."""
    import onnx
    from onnx import TensorProto, helper

    from iid_rdepth_ros.artifacts.onnx_meta import set_metadata

    out_dir.mkdir(parents=True, exist_ok=True)

    def tensor(name: str, channels: int) -> onnx.ValueInfoProto:
        return helper.make_tensor_value_info(name, TensorProto.FLOAT,
                                             [1, channels, height, width])

    consts = [helper.make_tensor("two", TensorProto.FLOAT, [], [2.0]),
              helper.make_tensor("twenty", TensorProto.FLOAT, [], [20.0]),
              helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
              helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])]
    base = [helper.make_node("ReduceMean", ["image"], ["m"], axes=[1], keepdims=1),
            helper.make_node("Mul", ["m", "twenty"], ["m20"]),
            helper.make_node("Add", ["m20", "two"], ["depth_mono"])]
    paths = {}
    for variant in ("mono", "stereo"):
        nodes = list(base)
        inputs = [tensor("image", 3)]
        outputs = [tensor("depth", 1)]
        if variant == "mono":
            nodes.append(helper.make_node("Identity", ["depth_mono"], ["depth"]))
        else:
            inputs += [tensor("aux", 3),
                       helper.make_tensor_value_info("fb", TensorProto.FLOAT, [1])]
            nodes += [helper.make_node("Mul", ["fb", "zero"], ["fb0"]),
                      helper.make_node("Add", ["depth_mono", "fb0"], ["depth"])]
            if confidence:
                nodes += [helper.make_node("ReduceMean", ["aux"], ["ma"], axes=[1], keepdims=1),
                          helper.make_node("Sub", ["m", "ma"], ["diff"]),
                          helper.make_node("Abs", ["diff"], ["adiff"]),
                          helper.make_node("Sub", ["one", "adiff"], ["confidence"])]
                outputs.append(tensor("confidence", 1))
        graph = helper.make_graph(nodes, f"tiny_{variant}", inputs, outputs, initializer=consts)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        onnx.checker.check_model(model)
        set_metadata(model, {"variant": variant, "steps": 1, "canonical_focal": CANONICAL_FOCAL,
                             "min_depth": 0.1, "max_depth": 100.0, "height": height,
                             "width": width, "model": "tiny-test-graph", "stereo_refine": False})
        path = out_dir / f"{variant}.onnx"
        onnx.save(model, str(path))
        paths[variant] = path
    return paths
