"""Readable metric tables: Markdown for files, rich for the terminal."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from iid_rdepth_ros.evaluation.metrics import LOWER_IS_BETTER, METRIC_KEYS

HEADERS = {
    "abs_rel": "AbsRel", "sq_rel": "SqRel", "rmse": "RMSE", "rmse_log": "RMSElog",
    "log10": "log10", "silog": "SILog", "d1": "δ<1.25", "d2": "δ<1.25²", "d3": "δ<1.25³",
    "coverage": "coverage", "frames": "frames",
}


def _fmt(key: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if key == "frames":
        return str(int(value))
    if key == "coverage":
        return f"{100.0 * value:.1f} %"
    if key == "silog":
        return f"{value:.2f}"
    return f"{value:.4f}" if key in LOWER_IS_BETTER or key.startswith("d") else str(value)


def table_columns(rows: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Metric columns, plus ``coverage`` when any row has it, then ``frames``."""
    cols = list(METRIC_KEYS)
    if any("coverage" in r for r in rows.values()):
        cols.append("coverage")
    return cols + ["frames"]


def markdown_table(rows: Mapping[str, Mapping[str, Any]], title: str | None = None,
                   notes: Sequence[str] = ()) -> str:
    """Markdown table, one row per method; lower-is-better columns marked ↓, others ↑."""
    cols = table_columns(rows)

    def head(c: str) -> str:
        arrow = " ↓" if c in LOWER_IS_BETTER else (" ↑" if c in METRIC_KEYS else "")
        return HEADERS.get(c, c) + arrow

    lines = [f"## {title}", ""] if title else []
    lines.append("| method | " + " | ".join(head(c) for c in cols) + " |")
    lines.append("|---|" + "---:|" * len(cols))
    for name, r in rows.items():
        lines.append(f"| {name} | " + " | ".join(_fmt(c, r.get(c)) for c in cols) + " |")
    if notes:
        lines.append("")
        lines.extend(f"- {n}" for n in notes)
    return "\n".join(lines) + "\n"


def print_table(rows: Mapping[str, Mapping[str, Any]], title: str | None = None) -> None:
    """Print the table to the terminal with rich."""
    from rich.console import Console
    from rich.table import Table

    cols = table_columns(rows)
    table = Table(title=title)
    table.add_column("method")
    for c in cols:
        table.add_column(HEADERS.get(c, c), justify="right")
    for name, r in rows.items():
        table.add_row(name, *(_fmt(c, r.get(c)) for c in cols))
    console = Console()
    if not console.is_terminal:  # piped / captured: do not squeeze into 80 columns
        console = Console(width=160)
    console.print(table)


def write_json(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented JSON, atomically (creating parent folders); NaN becomes
    null."""
    from iid_rdepth_ros.artifacts.files import write_text_atomic

    return write_text_atomic(path, json.dumps(_clean(data), indent=2) + "\n")


def _clean(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, Mapping):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    if hasattr(x, "item") and callable(x.item):  # numpy scalars
        return _clean(x.item())
    return x
