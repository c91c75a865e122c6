"""sha256 and sha512 of a stream, computed side by side while it is read.

hashlib releases the GIL on large updates, so sha512 (the slower one, ~470 MB/s here) runs in its
own thread while the reading thread does sha256: the pair costs about as much as sha512 alone.
"""

from __future__ import annotations

import hashlib
import queue
import threading


class DualHasher:
    """Feed chunks with :meth:`update`; :meth:`hexdigests` waits for the background hash to catch up."""

    def __init__(self, *, backlog: int = 4) -> None:
        # ``backlog`` bounds the memory held by chunks waiting for the sha512 thread.
        self._sha256 = hashlib.sha256()
        self._sha512 = hashlib.sha512()
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=backlog)
        self._thread = threading.Thread(target=self._run, name="sha512", daemon=True)
        self._thread.start()
        self._closed = False

    def _run(self) -> None:
        while True:
            chunk = self._queue.get()
            try:
                if chunk is None:
                    return
                self._sha512.update(chunk)
            finally:
                self._queue.task_done()

    def update(self, chunk: bytes) -> None:
        if not chunk:
            return
        self._queue.put(chunk)
        self._sha256.update(chunk)

    def reset(self) -> None:
        """Start over (the source had to be read again from the first byte)."""
        self._queue.join()
        self._sha256 = hashlib.sha256()
        self._sha512 = hashlib.sha512()

    def hexdigests(self) -> tuple[str, str]:
        """(sha256, sha512) of everything fed so far."""
        self._queue.join()
        return self._sha256.hexdigest(), self._sha512.hexdigest()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join()

    def __enter__(self) -> DualHasher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
