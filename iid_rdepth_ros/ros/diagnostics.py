"""The node's diagnostic_msgs/DiagnosticStatus (what `rqt_runtime_monitor` and aggregators read).

Keys are stable (tests and the benchmark read them): ``state``, ``backend``, ``fps in``,
``fps out``, ``latency p50 ms``, ``latency p95 ms``, ``frames in``, ``frames out``,
``frames dropped``, ``bad input``, ``aux view`` (``engaged`` | ``absent`` | ``off``), ...
"""

from __future__ import annotations

import math
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from iid_rdepth_ros.ros.stats import Issue, StatsSnapshot


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.2f}"
    return str(value)


def aux_view(aux_mode: str, snap: StatsSnapshot) -> tuple[str, str]:
    """(``engaged`` | ``absent`` | ``off``, reason) from the last processed frame."""
    if aux_mode == "off":
        return "off", "aux_mode is off"
    if snap.last_stereo:
        return "engaged", "AV-LFE fused the aux view"
    return "absent", snap.last_mono_reason or "no aux frame yet"


def build_status(
    name: str,
    hardware_id: str,
    state: str,
    snap: StatsSnapshot,
    issues: list[Issue],
    runner_info: dict[str, Any],
    aux_mode: str,
    extra: dict[str, Any] | None = None,
    conditions: dict[str, str] | None = None,
) -> DiagnosticStatus:
    """One DiagnosticStatus: level OK, WARN (recent bad input, a lasting input problem in
    ``conditions``, required aux view missing, not active) or ERROR (not configured).
    ``conditions`` are shown as ``warning <key>`` values."""
    view, view_reason = aux_view(aux_mode, snap)
    values: dict[str, Any] = {
        "state": state,
        "backend": runner_info.get("backend", "none"),
        "model": runner_info.get("model_path", ""),
        "network size": "x".join(str(v) for v in runner_info.get("network_hw", [])[::-1]),
        "diffusion steps": runner_info.get("diffusion_steps"),
        "stereo refine": runner_info.get("stereo_refine"),
        "fps in": snap.fps_in,
        "fps out": snap.fps_out,
        "latency p50 ms": snap.latency_p50_ms,
        "latency p95 ms": snap.latency_p95_ms,
        "latency max ms": snap.latency_max_ms,
        "frames in": snap.frames_in,
        "frames out": snap.frames_out,
        "frames dropped": snap.dropped,
        "bad input": snap.bad_input,
        "stereo frames": snap.stereo_out,
        "outputs skipped (no subscriber)": snap.outputs_skipped,
        "aux mode": aux_mode,
        "aux view": view,
        "aux reason": view_reason,
    }
    for stage, ms in snap.stage_p50_ms.items():
        values[f"{stage} p50 ms"] = ms
    values.update(extra or {})
    for issue in issues:
        values[f"issue {issue.kind}"] = f"{issue.count}x, last: {issue.message}"
    for key, text in (conditions or {}).items():
        values[f"warning {key}"] = text

    level, message = DiagnosticStatus.OK, f"{state}, {snap.fps_out:.1f} fps, aux view {view}"
    if state == "unconfigured":
        level, message = DiagnosticStatus.ERROR, "not configured (model not loaded)"
    elif state != "active":
        level, message = DiagnosticStatus.WARN, f"{state}: not processing images"
    elif issues:
        level = DiagnosticStatus.WARN
        message = f"bad input: {issues[0].kind}: {issues[0].message}"
    elif conditions:
        key, text = next(iter(conditions.items()))
        level, message = DiagnosticStatus.WARN, f"{key}: {text}"
    elif aux_mode == "required" and view != "engaged" and snap.frames_in > 0:
        level, message = DiagnosticStatus.WARN, f"aux view required but absent: {view_reason}"
    status = DiagnosticStatus(level=level, name=name, hardware_id=hardware_id, message=message)
    status.values = [KeyValue(key=k, value=_fmt(v)) for k, v in values.items()]
    return status


def build_array(stamp: Any, status: DiagnosticStatus) -> DiagnosticArray:
    """Wrap one status in a stamped DiagnosticArray."""
    array = DiagnosticArray()
    array.header.stamp = stamp
    array.status = [status]
    return array


def status_values(status: DiagnosticStatus) -> dict[str, str]:
    """The key/values of a status as a dict (for tests and the benchmark)."""
    return {kv.key: kv.value for kv in status.values}
