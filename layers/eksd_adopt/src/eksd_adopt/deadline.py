"""Whole-transfer deadlines: a transfer must end within a fixed allowance plus its size at a minimum throughput.

A per-read timeout alone never ends a body trickled one byte at a time (each byte restarts it), so
every transfer also gets a deadline derived from what it should carry. A :class:`TransferDeadline`
says how long a transfer of ``size`` bytes may take; :func:`watch` runs a callback (typically: shut the
socket down, which ends any blocked read at once) if the deadline passes before the transfer ends.
One daemon thread serves every watch of the process and exits when none is left.

Used by the image mirror (``eksd_adopt.images.client``); transport-neutral, so any other fetcher can
watch its transfers the same way.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from eksd_adopt.retry import TransientError

# 64 KiB/s is far below any link that can carry a release (ECR and CloudFront serve tens of MB/s),
# and still ends a 1 GiB layer trickled at a few bytes a second within about 4.6 hours rather than never.
DEFAULT_MIN_THROUGHPUT = 64 * 1024
DEFAULT_ALLOWANCE = 30.0  # seconds on top, for connections, TLS, redirects and the first byte


class TransferTooSlowError(TransientError):
    """A transfer did not end within its deadline (retrying may meet a faster path or a healthy server)."""


@dataclass(frozen=True)
class TransferDeadline:
    """How long a transfer may take: ``allowance`` seconds plus its size at ``min_throughput`` bytes/s."""

    min_throughput: int = DEFAULT_MIN_THROUGHPUT
    allowance: float = DEFAULT_ALLOWANCE

    def __post_init__(self) -> None:
        if self.min_throughput < 1 or self.allowance <= 0:
            raise ValueError("min_throughput must be at least 1 byte/s and allowance positive")

    def seconds_for(self, size: int) -> float:
        return self.allowance + max(0, size) / self.min_throughput

    def describe(self, size: int) -> str:
        return (
            f"not done within {self.seconds_for(size):.0f} s ({size} bytes at the minimum "
            f"{self.min_throughput} bytes/s plus {self.allowance:.0f} s)"
        )


class Watch:
    """One transfer's deadline: :meth:`on_expiry` names what to do if it passes; :attr:`expired` tells afterwards."""

    def __init__(self, seconds: float) -> None:
        self.started = time.monotonic()
        self.seconds = seconds
        self.at = self.started + seconds
        self.expired = False
        self.done = False
        self._cancel: Callable[[], None] | None = None
        self._lock = threading.Lock()

    def on_expiry(self, cancel: Callable[[], None] | None) -> None:
        """Run ``cancel`` when the deadline passes (at once if it already has); None forgets the last one."""
        with self._lock:
            self._cancel = cancel
            late = self.expired and cancel is not None
        if late and cancel is not None:
            cancel()

    def reset(self, seconds: float) -> None:
        """Make the deadline ``seconds`` from the start instead (once the transfer's size is known)."""
        self.seconds = seconds
        self.at = self.started + seconds
        _WATCHDOG.add(self)

    def _expire(self) -> None:
        with self._lock:
            if self.done:
                return
            self.expired = True
            cancel = self._cancel
        if cancel is not None:
            cancel()


class _Watchdog:
    """The thread behind :func:`watch`: a heap of deadlines, woken when one is added or ends."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Watch]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def add(self, item: Watch) -> None:
        with self._cond:
            heapq.heappush(self._heap, (item.at, next(self._order), item))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="transfer-deadlines", daemon=True)
                self._thread.start()
            self._cond.notify()

    def end(self) -> None:
        with self._cond:
            self._cond.notify()  # the ended watch may be the one the thread sleeps for

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._thread = None
                    return
                at, _, item = self._heap[0]
                if at != item.at:  # reset since: a later entry stands for it
                    heapq.heappop(self._heap)
                    continue
                delay = at - time.monotonic()
                if delay > 0:
                    self._cond.wait(delay)
                    continue
                heapq.heappop(self._heap)
            item._expire()  # outside the lock: the callback may take a moment (a socket shutdown)


_WATCHDOG = _Watchdog()


@contextmanager
def watch(seconds: float) -> Iterator[Watch]:
    """A deadline ``seconds`` from now for the transfer made inside the ``with`` block."""
    item = Watch(seconds)
    _WATCHDOG.add(item)
    try:
        yield item
    finally:
        with item._lock:
            item._cancel = None
            item.done = True
        _WATCHDOG.end()
