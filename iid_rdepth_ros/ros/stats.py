"""Thread-safe counters, rates and latency percentiles of the node, and its bad-input log."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

#: timed per frame: decoding, inference, building all messages, publishing them, and building
#: each message
STAGES = ("decode", "infer", "messages", "publish", "depth msg", "info msg", "confidence msg",
          "colorized msg", "points msg")


def _percentile_ms(values: deque[float], q: float) -> float:
    return float(np.percentile(np.fromiter(values, float), q) * 1e3) if values else float("nan")


@dataclass
class StatsSnapshot:
    """A consistent copy of the counters at one moment (times in ms, rates in Hz)."""

    frames_in: int = 0
    frames_out: int = 0
    dropped: int = 0
    bad_input: int = 0
    stereo_out: int = 0
    outputs_skipped: int = 0
    fps_in: float = 0.0
    fps_out: float = 0.0
    latency_p50_ms: float = float("nan")
    latency_p95_ms: float = float("nan")
    latency_max_ms: float = float("nan")
    stage_p50_ms: dict[str, float] = field(default_factory=dict)
    last_stereo: bool | None = None
    last_mono_reason: str = ""


class NodeStats:
    """Counters shared by the executor thread (input side) and the worker thread (outputs).

    Latency is measured from the arrival of the main image to the end of publishing its
    outputs; rates over the last ``window_s`` seconds; percentiles over the last ``keep``
    frames. Memory is bounded by ``keep``.
    """

    def __init__(self, window_s: float = 5.0, keep: int = 300) -> None:
        self._lock = threading.Lock()
        self.window_s = window_s
        self._keep = keep
        self.reset()

    def reset(self) -> None:
        """Zero everything."""
        with self._lock:
            self._counts = {"frames_in": 0, "frames_out": 0, "dropped": 0, "bad_input": 0,
                            "stereo_out": 0, "outputs_skipped": 0}
            self._in_times: deque[float] = deque(maxlen=self._keep)
            self._out_times: deque[float] = deque(maxlen=self._keep)
            self._latency: deque[float] = deque(maxlen=self._keep)
            self._stages: dict[str, deque[float]] = {s: deque(maxlen=self._keep) for s in STAGES}
            self._last_stereo: bool | None = None
            self._last_mono_reason = ""

    def frame_in(self, now: float) -> None:
        """A main image arrived."""
        with self._lock:
            self._counts["frames_in"] += 1
            self._in_times.append(now)

    def count(self, name: str, n: int = 1) -> None:
        """Add to ``dropped``, ``bad_input`` or ``outputs_skipped``."""
        with self._lock:
            self._counts[name] += n

    def frame_out(self, now: float, latency_s: float, stereo: bool, mono_reason: str,
                  stages: dict[str, float]) -> None:
        """Outputs of one frame were published (``stages``: seconds per stage)."""
        with self._lock:
            self._counts["frames_out"] += 1
            self._counts["stereo_out"] += int(stereo)
            self._out_times.append(now)
            self._latency.append(latency_s)
            for name, seconds in stages.items():
                self._stages[name].append(seconds)
            self._last_stereo = stereo
            self._last_mono_reason = mono_reason

    def _rate(self, times: deque[float], now: float) -> float:
        recent = [t for t in times if now - t <= self.window_s]
        if len(recent) < 2:
            return 0.0
        return (len(recent) - 1) / max(recent[-1] - recent[0], 1e-9)

    def snapshot(self, now: float) -> StatsSnapshot:
        """Copy of the counters, rates and percentiles."""
        with self._lock:
            return StatsSnapshot(
                **self._counts,
                fps_in=self._rate(self._in_times, now),
                fps_out=self._rate(self._out_times, now),
                latency_p50_ms=_percentile_ms(self._latency, 50),
                latency_p95_ms=_percentile_ms(self._latency, 95),
                latency_max_ms=_percentile_ms(self._latency, 100),
                stage_p50_ms={s: _percentile_ms(v, 50) for s, v in self._stages.items()},
                last_stereo=self._last_stereo,
                last_mono_reason=self._last_mono_reason,
            )


@dataclass
class Issue:
    """One kind of bad input: how often, the latest message, when."""

    kind: str
    count: int = 0
    message: str = ""
    last_seen: float = float("-inf")
    last_logged: float = float("-inf")


class IssueLog:
    """Bad-input reporter: one log line per kind per ``period_s`` (throttled), counts for the
    diagnostics. ``log`` gets the formatted line (e.g. a ROS logger's ``warning``)."""

    def __init__(self, log: Callable[[str], object], period_s: float = 5.0) -> None:
        self._log = log
        self.period_s = period_s
        self._lock = threading.Lock()
        self._issues: dict[str, Issue] = {}

    def report(self, kind: str, message: str, now: float) -> bool:
        """Record an occurrence; returns True when it was logged (not throttled)."""
        with self._lock:
            issue = self._issues.setdefault(kind, Issue(kind))
            issue.count += 1
            issue.message = message
            issue.last_seen = now
            if now - issue.last_logged < self.period_s:
                return False
            issue.last_logged = now
            count = issue.count
        self._log(f"bad input [{kind}]: {message} (seen {count}x; this message is throttled to "
                  f"once per {self.period_s:g} s)")
        return True

    def recent(self, now: float, window_s: float) -> list[Issue]:
        """Issues seen within the last ``window_s`` seconds, most recent first."""
        with self._lock:
            items = [Issue(**vars(i)) for i in self._issues.values()
                     if now - i.last_seen <= window_s]
        return sorted(items, key=lambda i: -i.last_seen)

    def totals(self) -> dict[str, int]:
        """Occurrences per kind since start."""
        with self._lock:
            return {k: i.count for k, i in self._issues.items()}
