"""A local CDN: a threaded loopback HTTP server for a directory, with Range support and fault injection.

URL path = file path under the root (``/kubernetes-1-20/releases/1/artifacts/...``,
``/releasechannels/1-20.yaml``), so the upstream simulator publishes by writing files and the
mirror reaches it through the ``--endpoint distro.eks.amazonaws.com=<base URL>`` mapping.

Faults are switched on at run time (:meth:`LocalCdn.inject`),
so tests can make the CDN misbehave the way a real one does: a body cut short, a connection
reset, wrong bytes, a 5xx, a stall, a trickle, a server that ignores ``Range``.
"""

from __future__ import annotations

import mimetypes
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from enum import StrEnum
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import TracebackType
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

from eksd_adopt.local.httpserver import LoopbackHTTPServer

_RANGE = re.compile(r"bytes=([0-9]{0,19})-([0-9]{0,19})", re.ASCII)  # whole, ASCII, int()-sized
_COPY_CHUNK = 256 * 1024


class Fault(StrEnum):
    """How a request is spoiled."""

    TRUNCATE = "truncate"  # full Content-Length announced, connection closed after `after_bytes`
    RESET = "reset"  # like TRUNCATE, but the connection is reset (TCP RST)
    WRONG_BYTES = "wrong-bytes"  # the byte at `after_bytes` is flipped; length unchanged
    ERROR_500 = "500"  # HTTP 500 (with Retry-After if `retry_after` is set)
    SLOW = "slow"  # stall `delay` seconds after `after_bytes` bytes, then carry on
    TRICKLE = "trickle"  # `after_bytes` bytes, then one byte every `delay` seconds (no read ever times out)
    IGNORE_RANGE = "ignore-range"  # answer 200 with the whole file even when a Range was asked for


@dataclass
class FaultRule:
    """One injected fault: which paths it hits and how many more requests it spoils."""

    fault: Fault
    path: str | None = None  # exact URL path; None = every path
    times: int | None = 1  # requests still to spoil; None = every request
    after_bytes: int = 0
    delay: float = 0.0
    retry_after: float | None = None

    def matches(self, path: str) -> bool:
        return (self.path is None or self.path == path) and (self.times is None or self.times > 0)


@dataclass(frozen=True)
class RequestRecord:
    """What the CDN saw and answered, so tests can assert on resumes and retries."""

    method: str
    path: str
    range: str | None
    status: int
    fault: Fault | None


@dataclass
class _State:
    root: Path
    rules: list[FaultRule] = field(default_factory=list)
    requests: list[RequestRecord] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take_fault(self, path: str, range_header: str | None) -> FaultRule | None:
        with self.lock:
            for rule in self.rules:
                if rule.matches(path):
                    if rule.times is not None:
                        rule.times -= 1
                    return rule
        return None

    def record(self, record: RequestRecord) -> None:
        with self.lock:
            self.requests.append(record)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass  # tests and the demo keep their output clean; RequestRecord is the log

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def do_GET(self) -> None:
        self._serve(head=False)

    def _serve(self, *, head: bool) -> None:
        # Each request is recorded before its answer is sent: a client that gives up on the answer and a
        # test that then reads ``requests`` must find it there.
        state = self.server.state
        path = unquote(urlsplit(self.path).path)
        range_header = self.headers.get("Range")
        fault = None if head else state.take_fault(path, range_header)
        file = self._resolve(state.root, path)
        if fault is not None and fault.fault is Fault.ERROR_500:
            extra = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
            state.record(RequestRecord(self.command, path, range_header, 500, fault.fault))
            self._reply_empty(500, extra, head=head)
            return
        if file is None:
            state.record(RequestRecord(self.command, path, range_header, 404, None))
            self._reply_empty(404, {}, head=head)
            return
        size = file.stat().st_size
        start, end = 0, size - 1
        status = 200
        if range_header and not (fault and fault.fault is Fault.IGNORE_RANGE):
            parsed = _parse_range(range_header, size)
            if parsed is None:
                state.record(RequestRecord(self.command, path, range_header, 416, None))
                self._reply_empty(416, {"Content-Range": f"bytes */{size}"}, head=head)
                return
            start, end = parsed
            status = 206
        length = end - start + 1
        state.record(RequestRecord(self.command, path, range_header, status, fault.fault if fault else None))
        self.send_response(status)
        self.send_header("Content-Type", mimetypes.guess_type(file.name)[0] or "application/octet-stream")
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if head:
            return
        with file.open("rb") as body:
            body.seek(start)
            if fault is None:
                self.wfile.flush()
                # sendfile: the common case costs the CDN almost no CPU, which matters in benchmarks.
                self.connection.sendfile(body, start, length)
            else:
                self._send_with_fault(body, length, fault)

    def _send_with_fault(self, body: BinaryIO, length: int, rule: FaultRule) -> None:
        cut = min(rule.after_bytes, length)
        if rule.fault in (Fault.TRUNCATE, Fault.RESET):
            self._copy(body, cut)
            self.wfile.flush()
            self.close_connection = True
            if rule.fault is Fault.RESET:
                # SO_LINGER with a zero timeout turns close() into a TCP reset.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        if rule.fault is Fault.SLOW:
            self._copy(body, cut)
            self.wfile.flush()
            time.sleep(rule.delay)
            self._copy(body, length - cut)
            return
        if rule.fault is Fault.TRICKLE:
            self._copy(body, cut)
            try:
                for _ in range(length - cut):
                    self.wfile.flush()
                    time.sleep(rule.delay)
                    self._copy(body, 1)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up on the trickle
            return
        if rule.fault is Fault.WRONG_BYTES:
            self._copy(body, cut)
            if cut < length:
                byte = body.read(1)
                self.wfile.write(bytes([byte[0] ^ 0xFF]))
                self._copy(body, length - cut - 1)
            return
        self._copy(body, length)  # IGNORE_RANGE: the whole body, status already 200

    def _copy(self, body: BinaryIO, count: int) -> None:
        while count > 0:
            chunk = body.read(min(_COPY_CHUNK, count))
            if not chunk:
                return
            self.wfile.write(chunk)
            count -= len(chunk)

    def _reply_empty(self, status: int, headers: dict[str, str], *, head: bool) -> None:
        body = b"" if head else f"HTTP {status}\n".encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    @staticmethod
    def _resolve(root: Path, path: str) -> Path | None:
        # Refuse anything that would leave the root (``..``, symlinks out of it).
        candidate = (root / path.lstrip("/")).resolve()
        if not candidate.is_relative_to(root) or not candidate.is_file():
            return None
        return candidate


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """One byte range (``bytes=a-``, ``bytes=a-b``, ``bytes=-n``) clipped to the file, or None if unsatisfiable."""
    match = _RANGE.fullmatch(header.strip())
    if not match or (not match.group(1) and not match.group(2)):
        return None
    first, last = match.groups()
    if not first:
        start, end = max(0, size - int(last)), size - 1
    else:
        start = int(first)
        end = min(int(last), size - 1) if last else size - 1
    if start >= size or start > end:
        return None
    return start, end


class _Server(LoopbackHTTPServer):
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state: _State) -> None:
        self.state = state
        super().__init__(address, _Handler)


class LocalCdn:
    """Serves ``root`` on 127.0.0.1; a context manager that returns its base URL (``http://127.0.0.1:<port>``)."""

    def __init__(self, root: Path | str, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._state = _State(root=Path(root).resolve())
        self._address = (host, port)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def root(self) -> Path:
        return self._state.root

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the CDN is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def requests(self) -> list[RequestRecord]:
        with self._state.lock:
            return list(self._state.requests)

    def start(self) -> str:
        if self._server is None:
            self._server = _Server(self._address, self._state)
            self._thread = threading.Thread(target=self._server.serve_forever, name="local-cdn", daemon=True)
            self._thread.start()
        return self.base_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def inject(
        self,
        fault: Fault | str,
        *,
        path: str | None = None,
        times: int | None = 1,
        after_bytes: int = 0,
        delay: float = 0.0,
        retry_after: float | None = None,
    ) -> FaultRule:
        """Spoil the next ``times`` GETs of ``path`` (every path if None; every request if ``times`` is None)."""
        rule = FaultRule(Fault(fault), path, times, after_bytes, delay, retry_after)
        with self._state.lock:
            self._state.rules.append(rule)
        return rule

    def reset(self) -> None:
        """Clear faults and the request log."""
        with self._state.lock:
            self._state.rules.clear()
            self._state.requests.clear()
