"""Pairing of the four input streams by stamp (no message_filters; small, bounded, no vectors).

A main image becomes a :class:`FrameSet` once its camera_info is known (same stamp; else,
unless that stream's infos carry the image stamps and this one may still come, the latest one:
camera_info rarely changes) and its auxiliary view is settled: an aux image whose
stamp is within ``tolerance`` (stereo), or none because ``aux_mode`` is off, the aux stream is
absent/stale, or no partner arrived within ``wait_s`` of wall time (mono fallback). An aux
stream counts as present while its images keep arriving, and also while the aux topic has
publishers (:meth:`InputSync.set_aux_publishers`): so the first paired frame is already
stereo (an aux publisher that sends nothing costs each main frame ``wait_s``). Frames are
released in stamp order; a frame overtaken by a newer released one is dropped (latest
wins).

Everything is keyed by integer nanoseconds; each buffer keeps at most ``ring`` entries and all
operations scan at most that many, so the cost per message is bounded and small.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

AUX_MODES = ("auto", "off", "required")


def stamp_ns(msg: Any) -> int:
    """Header stamp of a message in integer nanoseconds."""
    stamp = msg.header.stamp
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


class StampRing:
    """The last ``size`` messages of one stream, keyed by stamp (insertion ordered)."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"ring size must be >= 1, got {size}")
        self._size = size
        self._items: dict[int, Any] = {}

    def __len__(self) -> int:
        return len(self._items)

    def add(self, stamp: int, item: Any) -> None:
        """Store ``item`` under ``stamp``, evicting the oldest entry when full."""
        self._items.pop(stamp, None)
        self._items[stamp] = item
        while len(self._items) > self._size:
            del self._items[next(iter(self._items))]

    def nearest(self, stamp: int, tolerance: int) -> tuple[int, Any] | None:
        """(stamp, item) closest to ``stamp`` within ``tolerance`` ns, or None."""
        item = self._items.get(stamp)
        if item is not None:
            return stamp, item
        best = None
        best_gap = tolerance + 1
        for key, value in self._items.items():
            gap = abs(key - stamp)
            if gap < best_gap:
                best, best_gap = (key, value), gap
        return best

    def latest(self) -> tuple[int, Any] | None:
        """The most recently added (stamp, item), or None."""
        if not self._items:
            return None
        key = next(reversed(self._items))
        return key, self._items[key]

    def newest_stamp(self) -> int | None:
        """Largest stamp held, or None."""
        return max(self._items) if self._items else None

    def clear(self) -> None:
        """Forget everything."""
        self._items.clear()


@dataclass
class FrameSet:
    """One unit of work: a main image with its camera_info and, for stereo, the aux pair."""

    image: Any
    stamp: int
    received: float  # time.monotonic() when the main image arrived
    info: Any | None = None
    aux_image: Any | None = None
    aux_info: Any | None = None
    mono_reason: str = ""  # why there is no aux view ("" when stereo or aux_mode off)


@dataclass
class Released:
    """What one call to :class:`InputSync` settled."""

    ready: list[FrameSet] = field(default_factory=list)
    dropped: list[tuple[FrameSet, str, str]] = field(default_factory=list)  # (frame, kind, why)

    def extend(self, other: Released) -> None:
        """Append another result."""
        self.ready.extend(other.ready)
        self.dropped.extend(other.dropped)


class InputSync:
    """Pairs main images with camera_info and (optionally) the aux view; see module docstring.

    ``stale_min_s``: the aux stream counts as present while its last image arrived less than
    ``max(stale_min_s, 3 x its mean interval)`` ago (at most ``stale_max_s``).
    """

    def __init__(self, aux_mode: str = "auto", tolerance_s: float = 0.01, wait_s: float = 0.05,
                 ring: int = 8, stale_min_s: float = 0.5, stale_max_s: float = 2.0) -> None:
        if aux_mode not in AUX_MODES:
            raise ValueError(f"aux_mode must be one of {', '.join(AUX_MODES)}, got {aux_mode!r}")
        if not tolerance_s >= 0:
            raise ValueError(f"tolerance_s must be >= 0, got {tolerance_s}")
        self.aux_mode = aux_mode
        self.tolerance = int(round(tolerance_s * 1e9))
        self.wait_s = wait_s
        self.stale_min_s = stale_min_s
        self.stale_max_s = stale_max_s
        self._infos = StampRing(ring)
        self._aux = StampRing(ring)
        self._aux_infos = StampRing(ring)
        self._pending: list[FrameSet] = []
        self._ring = ring
        self._last_aux_wall: float | None = None
        self._aux_interval: float | None = None
        self._last_released = -1
        self._info_tracks_stamps = {"main": False, "aux": False}
        self._aux_publishers = 0

    def set_aux_publishers(self, count: int) -> None:
        """How many publishers the aux image topic has (from the ROS graph): while it has
        some, a main frame waits for its partner (at most ``wait_s``) even before the first
        aux image arrived or after the aux stream paused."""
        self._aux_publishers = max(int(count), 0)

    # -- inputs ---------------------------------------------------------------------------
    def add_info(self, msg: Any, now: float) -> Released:
        """A main camera_info; may complete frames waiting for it."""
        self._infos.add(stamp_ns(msg), msg)
        return self.poll(now)

    def add_aux_info(self, msg: Any, now: float) -> Released:
        """An aux camera_info; may complete a stereo frame waiting for it."""
        self._aux_infos.add(stamp_ns(msg), msg)
        return self.poll(now)

    def add_aux(self, msg: Any, now: float) -> Released:
        """An aux image; may complete a main frame waiting for its partner."""
        stamp = stamp_ns(msg)
        newest = self._aux.newest_stamp()
        if newest is not None and stamp < newest:
            self._aux.clear()  # the aux clock jumped back (bag loop, restarted driver)
            self._aux_infos.clear()
        if self._last_aux_wall is not None:
            gap = now - self._last_aux_wall
            self._aux_interval = gap if self._aux_interval is None else (
                0.8 * self._aux_interval + 0.2 * gap)
        self._last_aux_wall = now
        self._aux.add(stamp, (msg, now))
        return self.poll(now)

    def add_main(self, msg: Any, now: float) -> Released:
        """A main image; returns the frames settled now (possibly this one)."""
        frame = FrameSet(image=msg, stamp=stamp_ns(msg), received=now)
        self._pending.append(frame)
        out = Released()
        while len(self._pending) > self._ring:
            out.dropped.append((self._pending.pop(0), "superseded", "overtaken by newer frames"))
        out.extend(self.poll(now))
        return out

    def reset(self) -> None:
        """Forget all buffered messages and pending frames (after the clock jumped back)."""
        self._infos.clear()
        self._aux.clear()
        self._aux_infos.clear()
        self._pending.clear()
        self._last_released = -1

    # -- state ----------------------------------------------------------------------------
    def aux_present(self, now: float) -> bool:
        """True while aux images keep arriving (see the class docstring)."""
        if self._last_aux_wall is None:
            return False
        stale = self.stale_min_s
        if self._aux_interval is not None:
            stale = min(max(stale, 3.0 * self._aux_interval), self.stale_max_s)
        return now - self._last_aux_wall < stale

    def aux_expected(self, now: float) -> bool:
        """Aux images arrive (:meth:`aux_present`) or the aux topic has publishers."""
        return self.aux_present(now) or self._aux_publishers > 0

    @property
    def pending(self) -> int:
        """Main frames still waiting for camera_info or their aux partner."""
        return len(self._pending)

    def next_deadline(self) -> float | None:
        """Wall time at which the oldest pending frame stops waiting, or None."""
        return self._pending[0].received + self.wait_s if self._pending else None

    # -- settling -------------------------------------------------------------------------
    def poll(self, now: float) -> Released:
        """Settle every pending frame that can be settled at ``now``."""
        out = Released()
        keep: list[FrameSet] = []
        newest: FrameSet | None = None  # only the newest settled frame is released
        for frame in self._pending:
            verdict = self._settle(frame, now)
            if verdict is None:
                keep.append(frame)
                continue
            kind, why = verdict
            if kind != "ready":
                out.dropped.append((frame, kind, why))
                continue
            if frame.stamp < self._last_released:
                out.dropped.append((frame, "superseded", "older than a released frame"))
                continue
            for older in ([newest] if newest is not None else []) + keep:
                out.dropped.append((older, "superseded", "a newer frame was ready first"))
            keep.clear()
            newest = frame
        if newest is not None:
            self._last_released = newest.stamp
            out.ready.append(newest)
        self._pending = keep
        return out

    _WAIT = object()

    def _camera_info(self, ring: StampRing, stamp: int, expired: bool, stream: str) -> Any:
        """The camera_info for an image stamp: same stamp (within tolerance) if there is one;
        for a stream whose infos carry the image stamps, wait (until ``expired``) for it;
        otherwise the latest info. Returns the message, None (none at all) or ``_WAIT``."""
        found = ring.nearest(stamp, self.tolerance)
        if found is not None:
            self._info_tracks_stamps[stream] = True
            return found[1]
        newest = ring.newest_stamp()
        coming = newest is None or newest <= stamp + self.tolerance
        if self._info_tracks_stamps[stream] and coming and not expired:
            return self._WAIT
        latest = ring.latest()
        if latest is None:
            return None if expired else self._WAIT
        return latest[1]

    def _settle(self, frame: FrameSet, now: float) -> tuple[str, str] | None:
        expired = now - frame.received >= self.wait_s
        if frame.info is None:
            info = self._camera_info(self._infos, frame.stamp, expired, "main")
            if info is self._WAIT:
                return None
            if info is None:
                return "no_camera_info", "no camera_info received for the image yet"
            frame.info = info
        if self.aux_mode == "off":
            return "ready", ""
        match = self._aux.nearest(frame.stamp, self.tolerance)
        if match is not None:
            aux_stamp, (aux_image, aux_arrival) = match
            # its camera_info may follow it: waited for from the aux image's arrival on
            aux_expired = now - max(frame.received, aux_arrival) >= self.wait_s
            info = self._camera_info(self._aux_infos, aux_stamp, aux_expired, "aux")
            if info is self._WAIT:
                return None
            frame.aux_image, frame.aux_info = aux_image, info  # None: the worker says why
            frame.mono_reason = ""
            return "ready", ""
        present = self.aux_expected(now)
        newest = self._aux.newest_stamp()
        partner_possible = newest is None or newest <= frame.stamp + self.tolerance
        if present and partner_possible and not expired:
            return None
        if not present:
            frame.mono_reason = "aux stream absent"
        else:
            frame.mono_reason = (f"no aux image within sync_tolerance "
                                 f"({self.tolerance / 1e9:g} s) of the main stamp")
        if self.aux_mode == "required":
            return "aux_missing", f"aux_mode is required: {frame.mono_reason}"
        return "ready", ""
