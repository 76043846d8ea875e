"""Check an ONNX graph against the TensorRT 10 ONNX parser's operator support table.

The table (``data/tensorrt10_onnx_ops.csv``) comes from onnx-tensorrt's ``docs/operators.md``
(source named in the file). Besides "is the op listed as supported", the checker enforces the
data types of the table and the attribute restrictions of its last column that an exported
depth network can actually hit (Resize / GridSample modes, pooling dilations, constant axes…).
"""

from __future__ import annotations

import csv
import functools
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import onnx

TABLE_RESOURCE = "data/tensorrt10_onnx_ops.csv"
#: "TensorRT 10.0 supports operators in the inclusive range of opset 9 to opset 20".
OPSET_RANGE = (9, 20)

RESIZE_MODES = {"nearest", "linear"}
RESIZE_COORD_MODES = {
    "half_pixel", "pytorch_half_pixel", "tf_half_pixel_for_nn", "asymmetric", "align_corners",
}
RESIZE_NEAREST_MODES = {"floor", "ceil", "round_prefer_floor", "round_prefer_ceil"}
GRID_SAMPLE_MODES = {"bilinear", "linear", "nearest"}  # "linear" is the opset-20 spelling
GRID_SAMPLE_PADDING = {"zeros", "border", "reflection"}
#: Ops whose listed types describe their output (they have no data input).
OUTPUT_TYPED = {"Constant", "ConstantOfShape", "RandomNormal", "RandomUniform"}
#: (op, input index) pairs that must be build-time constants (initializer or Constant output).
CONSTANT_INPUTS: dict[str, tuple[int, str]] = {
    "CumSum": (1, "axis"), "Pad": (3, "axes"), "Slice": (3, "axes"), "Squeeze": (1, "axes"),
    "Unsqueeze": (1, "axes"), "OneHot": (1, "depth"),
    **{op: (1, "axes") for op in (
        "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax", "ReduceMean",
        "ReduceMin", "ReduceProd", "ReduceSum", "ReduceSumSquare")},
}
#: Upstream table typos, normalised when reading it.
_TYPE_TYPOS = {"INF64": "INT64"}


@dataclass(frozen=True)
class OpSupport:
    """One row of the support table."""

    op: str
    supported: bool
    types: frozenset[str]
    restrictions: str


@dataclass(frozen=True)
class CompatIssue:
    """Something in the graph the TensorRT 10 parser would reject."""

    node: str
    op: str
    reason: str

    def __str__(self) -> str:
        return f"{self.op} ({self.node or 'unnamed'}): {self.reason}"


@dataclass
class CompatReport:
    """Result of :func:`check_onnx`."""

    opset: int
    op_counts: dict[str, int]
    issues: list[CompatIssue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no issue was found."""
        return not self.issues

    def summary(self) -> str:
        """One line, then one line per issue."""
        ops = sum(self.op_counts.values())
        head = (f"TensorRT 10 compatibility: {'OK' if self.ok else 'FAILED'} "
                f"(opset {self.opset}, {ops} nodes, {len(self.op_counts)} op types)")
        return "\n".join([head] + [f"  - {issue}" for issue in self.issues])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"ok": self.ok, "opset": self.opset,
                "op_counts": dict(sorted(self.op_counts.items())),
                "issues": [str(issue) for issue in self.issues]}


@functools.lru_cache(maxsize=1)
def load_op_table() -> dict[str, OpSupport]:
    """The TensorRT 10 ONNX operator table, keyed by op type."""
    text = resources.files("iid_rdepth_ros.export").joinpath(TABLE_RESOURCE).read_text("utf-8")
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    table: dict[str, OpSupport] = {}
    for row in rows:
        types = {t.strip() for t in (row["types"] or "").split(",") if t.strip()}
        types = {_TYPE_TYPOS.get(t, t) for t in types}
        table[row["operator"]] = OpSupport(
            op=row["operator"], supported=row["supported"].strip() == "Y",
            types=frozenset(types), restrictions=(row["restrictions"] or "").strip(),
        )
    return table


def _type_names() -> dict[int, str]:
    import onnx

    tp = onnx.TensorProto
    names = {tp.FLOAT: "FP32", tp.FLOAT16: "FP16", tp.BFLOAT16: "BF16", tp.INT32: "INT32",
             tp.INT64: "INT64", tp.UINT8: "UINT8", tp.BOOL: "BOOL", tp.INT8: "INT8",
             tp.FLOAT8E4M3FN: "FP8", tp.DOUBLE: "FP64", tp.STRING: "STRING", tp.INT16: "INT16",
             tp.UINT16: "UINT16", tp.UINT32: "UINT32", tp.UINT64: "UINT64"}
    if hasattr(tp, "INT4"):
        names[tp.INT4] = "INT4"
    return names


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    import onnx

    out: dict[str, Any] = {}
    for attr in node.attribute:
        value = onnx.helper.get_attribute_value(attr)
        out[attr.name] = value.decode() if isinstance(value, bytes) else value
    return out


class _Checker:
    def __init__(self, model: onnx.ModelProto) -> None:
        import onnx

        self.table = load_op_table()
        self.type_names = _type_names()
        try:
            inferred = onnx.shape_inference.infer_shapes(model)
        except Exception:  # inference is best effort; types may stay unknown
            inferred = model
        self.model = inferred
        self.issues: list[CompatIssue] = []
        self.counts: Counter[str] = Counter()
        self.types: dict[str, int] = {}
        self.ranks: dict[str, int] = {}
        self.constants: dict[str, Any] = {}

    def _collect(self, graph: onnx.GraphProto) -> None:
        from onnx import numpy_helper

        for vi in list(graph.input) + list(graph.output) + list(graph.value_info):
            tt = vi.type.tensor_type
            if tt.elem_type:
                self.types[vi.name] = tt.elem_type
            if tt.HasField("shape"):
                self.ranks[vi.name] = len(tt.shape.dim)
        for init in graph.initializer:
            self.types[init.name] = init.data_type
            self.ranks[init.name] = len(init.dims)
            self.constants[init.name] = numpy_helper.to_array(init)
        for node in graph.node:
            if node.op_type == "Constant" and node.output:
                attrs = {a.name: a for a in node.attribute}
                if "value" in attrs:
                    self.constants[node.output[0]] = numpy_helper.to_array(attrs["value"].t)
                    self.types[node.output[0]] = attrs["value"].t.data_type

    def run(self) -> CompatReport:
        opset = next((o.version for o in self.model.opset_import if o.domain in ("", "ai.onnx")),
                     0)
        if not OPSET_RANGE[0] <= opset <= OPSET_RANGE[1]:
            self.issues.append(CompatIssue(
                "", "<model>", f"opset {opset} outside TensorRT 10's range "
                f"{OPSET_RANGE[0]}..{OPSET_RANGE[1]}"))
        self._graph(self.model.graph)
        return CompatReport(opset=opset, op_counts=dict(self.counts), issues=self.issues)

    def _graph(self, graph: onnx.GraphProto) -> None:
        import onnx

        self._collect(graph)
        for vi in list(graph.input) + list(graph.output):
            name = self.type_names.get(vi.type.tensor_type.elem_type, "?")
            if name in {"FP64", "STRING", "UINT16", "UINT32", "UINT64", "INT16"}:
                self.issues.append(CompatIssue(vi.name, "<graph io>", f"type {name} unsupported"))
        for node in graph.node:
            self._node(node)
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    self._graph(attr.g)
                elif attr.type == onnx.AttributeProto.GRAPHS:
                    for sub in attr.graphs:
                        self._graph(sub)

    def _issue(self, node: onnx.NodeProto, reason: str) -> None:
        self.issues.append(CompatIssue(node.name, node.op_type, reason))

    def _node(self, node: onnx.NodeProto) -> None:
        op = node.op_type
        self.counts[op] += 1
        if node.domain not in ("", "ai.onnx"):
            self._issue(node, f"custom domain '{node.domain}' needs a TensorRT plugin")
            return
        row = self.table.get(op)
        if row is None:
            self._issue(node, "not in TensorRT 10's ONNX operator table")
            return
        if not row.supported:
            self._issue(node, "listed as unsupported by TensorRT 10's ONNX parser")
            return
        self._check_type(node, row)
        self._check_constant_inputs(node)
        rule = getattr(self, f"_rule_{op}", None)
        if rule is not None:
            rule(node, _attrs(node))

    def _check_type(self, node: onnx.NodeProto, row: OpSupport) -> None:
        names = [node.output[0]] if op_is_output_typed(node.op_type) else [
            n for n in node.input[:1] if n]
        if node.op_type in ("Cast", "CastLike"):
            names.append(node.output[0])
        for name in names:
            elem = self.types.get(name)
            if elem is None or not row.types:
                continue
            type_name = self.type_names.get(elem, f"type#{elem}")
            if type_name not in row.types:
                self._issue(node, f"tensor '{name}' has type {type_name}; TensorRT supports "
                                  f"{', '.join(sorted(row.types))}")

    def _check_constant_inputs(self, node: onnx.NodeProto) -> None:
        spec = CONSTANT_INPUTS.get(node.op_type)
        if spec is None:
            return
        index, what = spec
        if len(node.input) > index and node.input[index] and \
                node.input[index] not in self.constants:
            self._issue(node, f"`{what}` must be a build-time constant (initializer)")

    # -- per-op restrictions (the table's last column) -----------------------------------------
    def _rule_Resize(self, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
        mode = attrs.get("mode", "nearest")
        coord = attrs.get("coordinate_transformation_mode", "half_pixel")
        nearest = attrs.get("nearest_mode", "round_prefer_floor")
        if mode not in RESIZE_MODES:
            self._issue(node, f"mode '{mode}' unsupported (only {sorted(RESIZE_MODES)})")
        if coord not in RESIZE_COORD_MODES:
            self._issue(node, f"coordinate_transformation_mode '{coord}' unsupported")
        if mode == "nearest" and nearest not in RESIZE_NEAREST_MODES:
            self._issue(node, f"nearest_mode '{nearest}' unsupported")
        if attrs.get("antialias", 0):
            self._issue(node, "antialiasing is unsupported")
        if attrs.get("keep_aspect_ratio_policy", "stretch") != "stretch":
            self._issue(node, "keep_aspect_ratio_policy must be 'stretch'")

    def _rule_Upsample(self, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
        if attrs.get("mode", "nearest") not in RESIZE_MODES:
            self._issue(node, f"mode '{attrs.get('mode')}' unsupported")

    def _rule_GridSample(self, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
        mode = attrs.get("mode", "bilinear")
        padding = attrs.get("padding_mode", "zeros")
        if mode not in GRID_SAMPLE_MODES:
            self._issue(node, f"mode '{mode}' unsupported (bilinear or nearest only)")
        if padding not in GRID_SAMPLE_PADDING:
            self._issue(node, f"padding_mode '{padding}' unsupported")
        rank = self.ranks.get(node.input[0])
        if rank is not None and rank != 4:
            self._issue(node, f"input must be 4D, got rank {rank}")

    def _pool(self, node: onnx.NodeProto, attrs: dict[str, Any], ranks: tuple[int, ...]) -> None:
        if any(d != 1 for d in attrs.get("dilations", [])):
            self._issue(node, "`dilations` must be empty or all ones")
        kernel = attrs.get("kernel_shape")
        if kernel is not None and len(kernel) not in ranks:
            self._issue(node, f"{len(kernel)}D pooling unsupported")

    def _rule_AveragePool(self, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
        self._pool(node, attrs, (2, 3))

    def _rule_MaxPool(self, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
        self._pool(node, attrs, (2, 3))
        if len(node.output) > 1 and node.output[1]:
            self._issue(node, "the `Indices` output is unsupported")

    def _rule_LpPool(self, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
        self._pool(node, attrs, (1, 2, 3))

    def _rule_Constant(self, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
        for bad in ("sparse_value", "value_string", "value_strings"):
            if bad in attrs:
                self._issue(node, f"attribute `{bad}` unsupported")

    def _rule_Dropout(self, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
        if len(node.input) > 2 and node.input[2]:
            value = self.constants.get(node.input[2])
            if value is None or bool(value):
                self._issue(node, "`training_mode` must be a constant False")

    def _rule_TopK(self, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
        if attrs.get("sorted", 1) != 1:
            self._issue(node, "`sorted` must be 1")
        k = self.constants.get(node.input[1]) if len(node.input) > 1 else None
        if k is None or int(k.reshape(-1)[0]) >= 3840:
            self._issue(node, "`K` must be a constant below 3840")

    def _rule_ScatterND(self, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
        if attrs.get("reduction", "none") != "none":
            self._issue(node, "`reduction` is unsupported")

    def _rule_LayerNormalization(
        self, node: onnx.NodeProto, attrs: dict[str, Any]
    ) -> None:
        if any(name for name in node.output[1:]):
            self._issue(node, "only the first output `Y` is supported")

    def _zero_point(self, node: onnx.NodeProto, what: str) -> None:
        if len(node.input) > 2 and node.input[2]:
            value = self.constants.get(node.input[2])
            if value is None or value.any():
                self._issue(node, f"`{what}` must be a constant zero")

    def _rule_QuantizeLinear(self, node: onnx.NodeProto, attrs: dict[str, Any]) -> None:
        self._zero_point(node, "y_zero_point")

    def _rule_DequantizeLinear(
        self, node: onnx.NodeProto, attrs: dict[str, Any]
    ) -> None:
        self._zero_point(node, "x_zero_point")


def op_is_output_typed(op: str) -> bool:
    """True for ops whose table types describe their output (no data input)."""
    return op in OUTPUT_TYPED


def check_onnx(model: onnx.ModelProto | str | Path) -> CompatReport:
    """Check a graph (or an ``.onnx`` path) against TensorRT 10's ONNX parser support."""
    import onnx

    if not isinstance(model, onnx.ModelProto):
        model = onnx.load(str(model))
    return _Checker(model).run()
