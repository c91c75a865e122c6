"""The threaded HTTP server every loopback stand-in uses (CDN, fault proxy, approvals endpoint).

A client that closes a kept-alive connection, or resets one mid-request, is how HTTP clients
normally behave (connection pools drop idle sockets, a retried request abandons the old one).
``socketserver`` prints a traceback for it to stderr; here it is counted instead, so the console
and CI logs show only real errors.
"""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# What a peer closing or resetting its side looks like from the server's reads and writes.
DISCONNECTS = (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)


class LoopbackHTTPServer(ThreadingHTTPServer):
    """``ThreadingHTTPServer`` with daemon request threads and no traceback for a client going away."""

    daemon_threads = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._disconnects = 0
        self._count_lock = threading.Lock()

    @property
    def disconnects(self) -> int:
        """How many connections ended with the client gone (closed or reset) while being served."""
        with self._count_lock:
            return self._disconnects

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Called from inside the request thread's ``except Exception``, so the exception is current.
        if isinstance(sys.exc_info()[1], DISCONNECTS):
            with self._count_lock:
                self._disconnects += 1
            return
        super().handle_error(request, client_address)


def send_whole(
    handler: BaseHTTPRequestHandler, status: int, headers: dict[str, str] | None = None, body: bytes = b""
) -> None:
    """Answer ``handler``'s request with ``body`` in full (none for a HEAD), its length declared."""
    handler.send_response(status)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    if body and handler.command != "HEAD":
        handler.wfile.write(body)
