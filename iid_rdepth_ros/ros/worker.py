"""One inference thread fed through a single-slot mailbox (latest frame wins).

The executor thread only drops work into the slot; when the worker is still busy with an
earlier frame, the frame waiting in the slot is replaced (and reported as dropped), so the
queue never grows: latency and memory stay bounded however slow inference is.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class LatestSlot(Generic[T]):
    """A mailbox holding at most one item; ``put`` replaces and returns the previous one."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._closed = False

    def put(self, item: T) -> T | None:
        """Store ``item``; return the item it replaced (never consumed), or None."""
        with self._cond:
            if self._closed:
                return item
            replaced, self._item = self._item, item
            self._cond.notify()
            return replaced

    def take(self, timeout: float | None = None) -> T | None:
        """Wait for an item and remove it; None on timeout or when closed and empty."""
        with self._cond:
            if self._item is None and not self._closed:
                self._cond.wait(timeout)
            item, self._item = self._item, None
            return item

    def clear(self) -> T | None:
        """Remove and return the waiting item, if any."""
        with self._cond:
            item, self._item = self._item, None
            return item

    def close(self) -> None:
        """Wake the consumer; later ``put`` calls are refused (returned as replaced)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed


class InferenceWorker(Generic[T]):
    """Thread that sets up a resource, processes items from a :class:`LatestSlot` with it, and
    tears it down, all on the same thread (what CUDA-bound runners need).

    ``setup()`` returns the resource (e.g. a loaded runner); ``process(resource, item)`` handles
    one item; ``teardown(resource)`` frees it. Exceptions from ``process`` go to ``on_error``.
    """

    def __init__(self, setup: Callable[[], Any], process: Callable[[Any, T], None],
                 teardown: Callable[[Any], None], on_error: Callable[[BaseException], None],
                 name: str = "iid-rdepth-infer") -> None:
        self._setup = setup
        self._process = process
        self._teardown = teardown
        self._on_error = on_error
        self.slot: LatestSlot[T] = LatestSlot()
        self._ready: Future[Any] = Future()
        self._idle = threading.Event()
        self._idle.set()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self, timeout: float | None = None) -> Any:
        """Start the thread and wait for ``setup``; returns its result or raises its error."""
        self._thread.start()
        try:
            return self._ready.result(timeout)
        except BaseException:
            self.slot.close()
            self._thread.join(timeout=5.0)
            raise

    def submit(self, item: T) -> T | None:
        """Hand an item to the worker; returns the item it displaced (dropped), or None."""
        return self.slot.put(item)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no item is being processed; True when idle."""
        return self._idle.wait(timeout)

    def stop(self, timeout: float | None = 10.0) -> bool:
        """Stop after the current item, run ``teardown``; True when the thread ended."""
        self.slot.close()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        """True while the thread runs."""
        return self._thread.is_alive()

    def _run(self) -> None:
        try:
            resource = self._setup()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller of start()
            self._ready.set_exception(exc)
            return
        self._ready.set_result(resource)
        try:
            while True:
                item = self.slot.take()
                if item is None:
                    if self.slot.closed:
                        break
                    continue
                self._idle.clear()
                try:
                    self._process(resource, item)
                except Exception as exc:  # noqa: BLE001 - one bad frame must not end the loop
                    self._on_error(exc)
                finally:
                    self._idle.set()
        finally:
            self._teardown(resource)
