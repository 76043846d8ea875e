"""Open rosbag2 recordings (sqlite3 or mcap) with ``rosbags``; every failure is one clear line.

:func:`open_bag` gives a :class:`Bag`: its topics and types, checks that a topic exists with
an expected type, and an iterator of deserialised messages in log-time order. A path that does
not exist raises ``FileNotFoundError``; anything unreadable (no ``metadata.yaml``, truncated or
corrupt storage, undecodable messages) raises :class:`BagError` (a ``ValueError``) saying what.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from iid_rdepth_ros.bag import messages as m


class BagError(ValueError):
    """A bag cannot be read, or lacks what was asked of it."""


class Bag:
    """An open bag (use :func:`open_bag`)."""

    def __init__(self, path: Path, reader: Any) -> None:
        self.path = path
        self._reader = reader

    @property
    def topics(self) -> dict[str, str]:
        """Topic -> message type (``pkg/msg/Name``)."""
        return {name: info.msgtype for name, info in self._reader.topics.items()}

    @property
    def counts(self) -> dict[str, int]:
        """Topic -> number of messages."""
        return {name: int(info.msgcount) for name, info in self._reader.topics.items()}

    @property
    def duration_s(self) -> float:
        """Log time from the first to the last message (s)."""
        return max(self._reader.end_time - self._reader.start_time, 0) / 1e9

    def describe(self) -> str:
        """``topic (type, N msgs)`` for every topic, for error messages."""
        counts = self.counts
        return "; ".join(f"{t} ({ty.split('/')[-1]}, {counts[t]})"
                         for t, ty in sorted(self.topics.items())) or "none"

    def require(self, topic: str, msgtypes: Iterable[str], role: str) -> None:
        """BagError unless ``topic`` is in the bag with one of ``msgtypes`` and has messages."""
        allowed = tuple(msgtypes)
        if topic not in self.topics:
            raise BagError(f"{self.path}: no topic {topic} ({role}) in the bag; it has: "
                           f"{self.describe()}")
        if self.topics[topic] not in allowed:
            raise BagError(f"{self.path}: {role} topic {topic} is {self.topics[topic]}, "
                           f"expected {' or '.join(allowed)}")
        if self.counts[topic] == 0:
            raise BagError(f"{self.path}: {role} topic {topic} has no messages")

    def messages(self, topics: Iterable[str]) -> Iterator[tuple[str, int, Any]]:
        """``(topic, log time ns, message)`` of ``topics`` in log-time order."""
        yield from ((t, ns, self.deserialize(raw, t)) for t, ns, raw in self.raw(topics))

    def raw(self, topics: Iterable[str]) -> Iterator[tuple[str, int, bytes]]:
        """``(topic, log time ns, CDR bytes)`` of ``topics`` in log-time order."""
        wanted = set(topics)
        conns = [c for c in self._reader.connections if c.topic in wanted]
        if not conns:  # rosbags reads every connection when given none
            return
        n = 0
        it = self._reader.messages(connections=conns)
        while True:
            try:
                conn, ns, raw = next(it)
            except StopIteration:
                return
            except Exception as exc:  # noqa: BLE001 - storage errors of every kind
                raise BagError(f"{self.path} is truncated or corrupt: reading failed after {n} "
                               f"messages ({type(exc).__name__}: {exc})") from exc
            n += 1
            yield conn.topic, int(ns), raw

    def deserialize(self, raw: bytes, topic: str) -> Any:
        """A message of ``topic`` from its CDR bytes (BagError if they do not decode)."""
        msgtype = self.topics[topic]
        try:
            return self._reader.deserialize(raw, msgtype)
        except Exception as exc:  # noqa: BLE001
            raise BagError(f"{self.path}: a {msgtype} message on {topic} does not decode "
                           f"(corrupt data: {type(exc).__name__}: {exc})") from exc


@contextmanager
def open_bag(path: str | Path) -> Iterator[Bag]:
    """Open a rosbag2 directory (or a bare ``.mcap`` file) for reading."""
    from rosbags.highlevel import AnyReader

    bag = Path(path)
    if not bag.exists():
        raise FileNotFoundError(f"bag {bag} does not exist")
    if bag.is_dir() and not (bag / "metadata.yaml").is_file():
        raise BagError(f"{bag} is not a rosbag2 directory: it has no metadata.yaml (a "
                       "recording that did not end cleanly needs 'ros2 bag reindex')")
    reader = AnyReader([bag], default_typestore=m.typestore())
    try:
        reader.open()
    except Exception as exc:  # noqa: BLE001 - rosbags raises several types here
        raise BagError(f"cannot read bag {bag} (truncated or corrupt?): "
                       f"{type(exc).__name__}: {exc}") from exc
    try:
        yield Bag(bag, reader)
    finally:
        with suppress(Exception):  # closing a corrupt bag may fail again
            reader.close()
