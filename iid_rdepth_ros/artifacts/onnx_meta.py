"""Metadata our exporter stores in each ONNX graph (``metadata_props``) and reads back.

Each graph is self-describing, so a lone ``.onnx`` (or an engine built from it) still knows
its variant, T, canonical focal and depth range.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import onnx

PREFIX = "iid_rdepth."
REQUIRED = ("variant", "steps", "canonical_focal", "min_depth", "max_depth", "height", "width")


def set_metadata(model: onnx.ModelProto, meta: dict[str, Any]) -> None:
    """Store ``meta`` (JSON-encoded values) under ``iid_rdepth.*`` keys."""
    import onnx

    props = {p.key: p.value for p in model.metadata_props}
    props.update({PREFIX + key: json.dumps(value) for key, value in meta.items()})
    onnx.helper.set_model_props(model, props)


def get_metadata(model: onnx.ModelProto | str | Path) -> dict[str, Any]:
    """Read the ``iid_rdepth.*`` metadata of a graph; ValueError if it is not one of ours."""
    import onnx

    source = model
    if not isinstance(model, onnx.ModelProto):
        model = load_graph(model, load_weights=False)
    meta = {p.key[len(PREFIX):]: json.loads(p.value) for p in model.metadata_props
            if p.key.startswith(PREFIX)}
    missing = [k for k in REQUIRED if k not in meta]
    if missing:
        where = source if isinstance(source, (str, Path)) else "graph"
        raise ValueError(f"{where} is not an iid-rdepth export (metadata lacks "
                         f"{', '.join(missing)}); export it with 'iid-rdepth export'")
    return meta


def load_graph(path: str | Path, load_weights: bool = True) -> onnx.ModelProto:
    """Load an ``.onnx`` file; ValueError naming the file when missing or corrupt."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ONNX file {path} does not exist")
    try:
        return onnx.load(str(path), load_external_data=load_weights)
    except Exception as exc:  # protobuf DecodeError and friends
        raise ValueError(f"{path} is not a readable ONNX model: {exc}") from exc
