"""A fault-injecting HTTP proxy for registries: 429 with Retry-After, 5xx, resets mid-body, wrong bytes,
and a hostile registry's answers.

It forwards every request to an upstream registry (streaming both ways) and, when a rule matches
the method and path, injects its fault for the rule's next ``times`` matching requests. It can also
stand in front of a registry as ECR Public does, demanding an anonymous bearer token
(``WWW-Authenticate: Bearer realm=...``) that it hands out at ``/token``, and answer blob GETs with a
307 to another host, as ECR and ECR Public send layers to S3 or a CDN. Every request is recorded
(with whether it carried credentials), so tests can assert what the client did.

The hostile faults answer instead of upstream: a redirect to any URL, any WWW-Authenticate
challenge, any canned response (crafted manifests and digests, a HEAD claiming a blob), an endless
or huge body, and upstream's own answer trickled a byte at a time. :class:`ConnectionSentinel` is a
listener that must never be reached: it counts the connections it accepts.
"""

from __future__ import annotations

import itertools
import re
import secrets
import socket
import threading
import time
from contextlib import suppress
from dataclasses import dataclass, field
from enum import StrEnum
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any

import httpx

from eksd_adopt.local.httpserver import LoopbackHTTPServer, send_whole

HOP_HEADERS = frozenset({"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "host"})


class Fault(StrEnum):
    TOO_MANY_REQUESTS = "429"
    SERVER_ERROR = "500"
    RESET_MID_BODY = "reset"
    WRONG_BYTES = "corrupt"
    REDIRECT = "redirect"  # `status` (307) to `location`
    CHALLENGE = "challenge"  # 401 with `challenge` as WWW-Authenticate
    SERVE = "serve"  # `status` with `headers` and `body` (a HEAD gets the headers only)
    ENDLESS = "endless"  # `status` with `headers`, then `body` and filler until `limit` bytes or the client leaves
    TRICKLE = "trickle"  # upstream's answer, its body one byte every `interval` seconds


# Answered by the proxy itself, before any token check; the others act on upstream's answer.
CANNED = frozenset({Fault.REDIRECT, Fault.CHALLENGE, Fault.SERVE, Fault.ENDLESS})


@dataclass
class FaultRule:
    """Inject ``fault`` into the next ``times`` requests whose method and path match."""

    fault: Fault
    path: str  # a regular expression searched in the request path
    method: str = "GET"
    times: int = 1
    retry_after: int | None = None
    hits: int = 0
    status: int | None = None
    location: str = ""
    challenge: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    limit: int = 64 * 1024 * 1024  # ENDLESS: stop here whatever happens, so a test always ends
    interval: float = 0.05  # TRICKLE: seconds between bytes

    def matches(self, method: str, path: str) -> bool:
        return self.hits < self.times and method == self.method and re.search(self.path, path) is not None


@dataclass
class RecordedRequest:
    method: str
    path: str
    status: int
    fault: Fault | None = None
    authorized: bool = False  # it carried an Authorization header


@dataclass
class _State:
    rules: list[FaultRule] = field(default_factory=list)
    requests: list[RecordedRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class FaultProxy:
    """``with FaultProxy(upstream_url) as proxy: proxy.url``; add rules with :meth:`inject`."""

    def __init__(
        self,
        upstream_url: str,
        *,
        require_token: bool = False,
        redirect_blobs_to: str | None = None,
        token_realm: str | None = None,
    ) -> None:
        """``token_realm``: where the challenge sends clients for a token (default: this proxy's ``/token``)."""
        self.upstream_url = upstream_url.rstrip("/")
        self.require_token = require_token
        self.token_realm = token_realm
        self.redirect_blobs_to = redirect_blobs_to.rstrip("/") if redirect_blobs_to else None
        self.token = secrets.token_hex(8)
        self.state = _State()
        self._server: LoopbackHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._client = httpx.Client(timeout=60.0)

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def inject(
        self,
        fault: Fault,
        path: str,
        *,
        method: str = "GET",
        times: int = 1,
        retry_after: int | None = None,
        **answer: Any,
    ) -> FaultRule:
        """Add a rule; ``answer`` sets the hostile faults' fields (status, location, challenge, headers, body,
        limit, interval)."""
        rule = FaultRule(fault, path, method, times, retry_after, **answer)
        with self.state.lock:
            self.state.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self.state.lock:
            self.state.rules.clear()
            self.state.requests.clear()

    @property
    def requests(self) -> list[RecordedRequest]:
        with self.state.lock:
            return list(self.state.requests)

    def start(self) -> FaultProxy:
        handler = _make_handler(self)
        self._server = LoopbackHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
        self._client.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _take_rule(self, method: str, path: str, kinds: frozenset[Fault] | None = None) -> FaultRule | None:
        with self.state.lock:
            for rule in self.state.rules:
                if rule.matches(method, path) and (kinds is None or rule.fault in kinds):
                    rule.hits += 1
                    return rule
        return None

    def _record(self, method: str, path: str, status: int, fault: Fault | None, authorized: bool = False) -> None:
        with self.state.lock:
            self.state.requests.append(RecordedRequest(method, path, status, fault, authorized))


def _canned_status(rule: FaultRule) -> int:
    """The status a canned fault answers with (recorded before it is sent, see ``_handle``)."""
    if rule.fault is Fault.REDIRECT:
        return rule.status or 307
    if rule.fault is Fault.CHALLENGE:
        return 401
    return rule.status or 200


def _make_handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _send_simple(self, status: int, headers: dict[str, str] | None = None, body: bytes = b"") -> None:
            send_whole(self, status, headers, body)

        def _handle(self) -> None:
            # Each request is recorded before its answer goes out: a client that gives up on that answer,
            # and a test that then counts ``requests``, must find it there.
            method, path = self.command, self.path
            authorized = self.headers.get("Authorization") is not None
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if path.startswith("/token"):
                proxy._record(method, path, 200, None)
                self._send_simple(200, {"Content-Type": "application/json"}, f'{{"token": "{proxy.token}"}}'.encode())
                return
            canned = proxy._take_rule(method, path, CANNED)
            if canned:
                proxy._record(method, path, _canned_status(canned), canned.fault, authorized)
                self._answer(canned)
                return
            if (
                proxy.require_token
                and path.startswith("/v2/")
                and self.headers.get("Authorization") != f"Bearer {proxy.token}"
            ):
                realm = proxy.token_realm or f"{proxy.url}/token"
                challenge = f'Bearer realm="{realm}",service="local-proxy",scope="aws"'
                proxy._record(method, path, 401, None, authorized)
                self._send_simple(401, {"WWW-Authenticate": challenge})
                return
            if proxy.redirect_blobs_to and method == "GET" and "/blobs/sha256:" in path:
                proxy._record(method, path, 307, None, authorized)
                self._send_simple(307, {"Location": proxy.redirect_blobs_to + path})
                return
            rule = proxy._take_rule(method, path, frozenset(Fault) - CANNED)
            if rule and rule.fault in (Fault.TOO_MANY_REQUESTS, Fault.SERVER_ERROR):
                headers = {"Retry-After": str(rule.retry_after)} if rule.retry_after is not None else {}
                proxy._record(method, path, int(rule.fault.value), rule.fault, authorized)
                self._send_simple(int(rule.fault.value), headers)
                return
            self._forward(method, path, body, rule, authorized)

        def _forward(self, method: str, path: str, body: bytes, rule: FaultRule | None, authorized: bool) -> None:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS | {"authorization"}}
            upstream = proxy._client.build_request(method, proxy.upstream_url + path, headers=headers, content=body)
            response = proxy._client.send(upstream, stream=True)
            try:
                proxy._record(method, path, response.status_code, rule.fault if rule else None, authorized)
                self.send_response(response.status_code)
                for name, value in response.headers.items():
                    if name.lower() in HOP_HEADERS or name.lower() == "content-length":
                        continue
                    if name.lower() == "location" and value.startswith(proxy.upstream_url):
                        self.send_header(name, proxy.url + value[len(proxy.upstream_url) :])
                    else:
                        self.send_header(name, value)
                size = int(response.headers.get("content-length") or 0)
                self.send_header("Content-Length", str(size))
                self.end_headers()
                if method == "HEAD":
                    return
                sent = 0
                for raw in response.iter_raw(64 * 1024):
                    chunk = raw
                    if rule and rule.fault is Fault.RESET_MID_BODY and sent + len(chunk) >= size // 2:
                        self.wfile.write(chunk[: max(0, size // 2 - sent)])
                        self.wfile.flush()
                        # An abrupt close (RST), as a dropped connection looks to the client.
                        self.connection.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                        )
                        self.close_connection = True
                        self.connection.close()
                        return
                    if rule and rule.fault is Fault.WRONG_BYTES and sent == 0 and chunk:
                        chunk = bytes([chunk[0] ^ 0xFF]) + chunk[1:]  # same length, other bytes
                    if rule and rule.fault is Fault.TRICKLE:
                        if not self._trickle(chunk, rule.interval):
                            return
                    else:
                        self.wfile.write(chunk)
                    sent += len(chunk)
            finally:
                response.close()

        def _trickle(self, data: bytes, interval: float) -> bool:
            """One byte at a time; False when the client has gone."""
            for index in range(len(data)):
                try:
                    self.wfile.write(data[index : index + 1])
                    self.wfile.flush()
                except OSError:
                    self.close_connection = True
                    return False
                time.sleep(interval)
            return True

        def _answer(self, rule: FaultRule) -> None:
            """A hostile fault's own answer, with the status :func:`_canned_status` names."""
            status = _canned_status(rule)
            if rule.fault is Fault.REDIRECT:
                self._send_simple(status, {"Location": rule.location})
            elif rule.fault is Fault.CHALLENGE:
                self._send_simple(status, {"WWW-Authenticate": rule.challenge})
            elif rule.fault is Fault.SERVE:
                self.send_response(status)
                for name, value in rule.headers.items():
                    self.send_header(name, value)
                if not any(name.lower() == "content-length" for name in rule.headers):
                    self.send_header("Content-Length", str(len(rule.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(rule.body)
            else:
                self._endless(status, rule)

        def _endless(self, status: int, rule: FaultRule) -> None:
            # Chunked unless the rule declares a length; either way, bytes until the client leaves.
            chunked = not any(name.lower() == "content-length" for name in rule.headers)
            self.send_response(status)
            for name, value in rule.headers.items():
                self.send_header(name, value)
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.close_connection = True
            filler = b" " * (64 * 1024)
            sent = 0
            try:
                for piece in itertools.chain([rule.body], itertools.repeat(filler)):
                    if sent >= rule.limit:
                        break
                    if piece:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                        sent += len(piece)
                if chunked:
                    self.wfile.write(b"0\r\n\r\n")
            except OSError:
                pass  # the client stopped reading: what the test wants

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    return Handler


class ConnectionSentinel:
    """A listener that must never be reached: it accepts, counts and closes every connection.

    Bind it to an address the policy refuses (127.0.0.2, which Linux routes to loopback, or
    127.0.0.1 for a name such as ``localhost``) and assert :attr:`connections` stays 0.
    """

    def __init__(self, host: str = "127.0.0.2") -> None:
        self.host = host
        self._socket = socket.create_server((host, 0))
        self.port = self._socket.getsockname()[1]
        self._count = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, name="connection-sentinel", daemon=True)

    def url(self, scheme: str = "http", host: str | None = None) -> str:
        return f"{scheme}://{host or self.host}:{self.port}"

    @property
    def connections(self) -> int:
        with self._lock:
            return self._count

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return  # closed by stop()
            with self._lock:
                self._count += 1
            connection.close()

    def __enter__(self) -> ConnectionSentinel:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with suppress(OSError):
            self._socket.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self._socket.close()
        self._thread.join(timeout=5)
