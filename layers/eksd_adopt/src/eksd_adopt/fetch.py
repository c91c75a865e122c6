"""Fetching small upstream documents (release manifests, release-channel files) safely.

HTTPS to allow-listed hosts only (checked before the endpoint mapping), the URL matched whole
(:func:`eksd_adopt.policy.https_url_problem`), a size cap enforced while reading, a per-read timeout
and a whole-transfer deadline (:mod:`eksd_adopt.deadline`: the socket is shut when it passes, so a
trickled answer ends), retries on 5xx and resets, and redirects followed only to allow-listed hosts.
"""

from __future__ import annotations

import re
import socket
import threading
import zlib
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager, suppress
from typing import Any
from urllib.parse import urljoin

import httpx

from eksd_adopt.deadline import TransferDeadline, Watch, watch
from eksd_adopt.endpoints import EndpointMap, check_upstream_url
from eksd_adopt.errors import FetchError, UpstreamNotFoundError
from eksd_adopt.policy import https_url_problem
from eksd_adopt.retry import RetryPolicy, TransientError, raise_for_transient

MAX_REDIRECTS = 3
_CONTENT_LENGTH = re.compile(r"[0-9]{1,19}", re.ASCII)
# Request headers of every guarded GET. identity: the size cap and the truncation check are then
# about the bytes on the wire. close: each request opens its own connection, so the socket is known
# (httpcore reports it only when it connects) and can be shut at the deadline from the first byte.
GUARDED_HEADERS = {"Accept-Encoding": "identity", "Connection": "close"}


class FetchTooSlowError(FetchError):
    """A document was not fetched within its deadline. Not retried in the same call: a trickling server
    would take the caller's whole time budget (the intake's redelivery retries later)."""


class SocketCutter:
    """The socket an httpx request opens, taken from httpcore's trace, shut down on :meth:`cut`.

    Shutting a socket down ends a read blocked on it at once (closing it from another thread would
    not), which is how a transfer's deadline ends a body or headers trickled a byte at a time. Pass
    :meth:`trace` as the request's ``trace`` extension and :meth:`cut` to ``Watch.on_expiry``.
    """

    _CONNECTED = ("connection.connect_tcp.complete", "connection.start_tls.complete")

    def __init__(self) -> None:
        self._sockets: list[socket.socket] = []
        self._cut = False
        self._lock = threading.Lock()

    def trace(self, event: str, info: Mapping[str, Any]) -> None:
        if event not in self._CONNECTED:
            return
        stream = info.get("return_value")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if isinstance(sock, socket.socket):
            with self._lock:
                self._sockets.append(sock)
                late = self._cut
            if late:
                self._shut(sock)

    def cut(self) -> None:
        with self._lock:
            self._cut = True
            sockets = list(self._sockets)
        for sock in sockets:
            self._shut(sock)

    @staticmethod
    def _shut(sock: socket.socket) -> None:
        with suppress(OSError):  # the socket class's own shutdown: SSLSocket's would unwrap under a reader
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


def guarded_stream(
    client: httpx.Client, url: str, transfer: Watch, headers: Mapping[str, str] | None = None
) -> AbstractContextManager[httpx.Response]:
    """``client.stream("GET", url)`` whose connection ``transfer``'s deadline shuts down."""
    cutter = SocketCutter()
    transfer.on_expiry(cutter.cut)
    return client.stream("GET", url, headers={**GUARDED_HEADERS, **(headers or {})}, extensions={"trace": cutter.trace})


def content_length(headers: Mapping[str, str], what: str) -> int | None:
    """The Content-Length header as an int (None when absent); FetchError when it is not a plain number."""
    value = headers.get("content-length")
    if value is None:
        return None
    if not _CONTENT_LENGTH.fullmatch(value):
        raise FetchError(f"{what}: Content-Length {value[:40]!r} is not a byte count")
    return int(value)


class _BoundedDecoder:
    """Undoes a gzip/deflate Content-Encoding without ever producing more than ``max_bytes``.

    We ask for ``identity``; a server that compresses anyway is still read correctly, but a small
    compressed body cannot expand into a large one (a decompression bomb) before the cap is checked.
    """

    _WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}

    def __init__(self, encoding: str, max_bytes: int, what: str) -> None:
        if encoding not in self._WBITS:
            raise FetchError(f"{what}: unsupported Content-Encoding {encoding[:40]!r}")
        self._inflate = zlib.decompressobj(self._WBITS[encoding])
        self.max_bytes = max_bytes
        self.what = what

    def decode(self, chunk: bytes, produced: int) -> bytes:
        room = self.max_bytes - produced
        try:
            data = self._inflate.decompress(chunk, room + 1)
        except zlib.error as exc:
            raise FetchError(f"{self.what}: the compressed body is corrupt ({exc})") from exc
        if len(data) > room or self._inflate.unconsumed_tail:
            raise FetchError(f"{self.what}: body is over the {self.max_bytes}-byte limit once decompressed")
        return data

    def finish(self) -> None:
        if not self._inflate.eof:
            raise TransientError(f"{self.what}: the compressed body ends early")


class DocumentFetcher:
    """Gets upstream documents into memory; for small files only (the cap protects the caller)."""

    def __init__(
        self,
        allowed_hosts: Iterable[str],
        endpoints: EndpointMap | None = None,
        *,
        client: httpx.Client | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 20.0,
        deadline: TransferDeadline | None = None,
    ) -> None:
        self.allowed_hosts = frozenset(allowed_hosts)
        self.endpoints = endpoints or EndpointMap()
        self.client = client or httpx.Client(timeout=timeout, follow_redirects=False)
        self.retry = retry or RetryPolicy(attempts=4)
        # The shared defaults (64 KiB/s after 30 s): a 1 MiB document gets at most 46 s, inside the
        # intake function's 60 s.
        self.deadline = deadline or TransferDeadline()

    def fetch(self, url: str, *, max_bytes: int) -> bytes:
        """The body of ``url``. Raises :class:`UpstreamNotFoundError` on 403/404, :class:`FetchError` otherwise."""
        self._check(url)
        try:
            return self.retry.call(self._fetch_following_redirects, url, max_bytes)
        except TransientError as exc:
            raise FetchError(f"{url}: {exc} (gave up after retries)") from exc
        except httpx.TransportError as exc:
            raise FetchError(f"{url}: {type(exc).__name__}: {exc} (gave up after retries)") from exc

    def _check(self, url: str) -> None:
        # The endpoint policy (scheme, host), then the whole URL matched: what a URL parser drops or
        # reinterprets (a tab, "%2e%2e", a backslash) never gets through, and an invalid port is an
        # error, not a crash. Both before any mapping or connection.
        try:
            check_upstream_url(url, self.allowed_hosts)
        except ValueError as exc:  # urlsplit's complaint about a port
            raise FetchError(f"refusing {url[:200]!r}: {exc}") from exc
        problem = https_url_problem(url, self.allowed_hosts)
        if problem is not None:
            raise FetchError(f"refusing {url[:200]!r}: {problem}")

    def _fetch_following_redirects(self, url: str, max_bytes: int) -> bytes:
        for _ in range(MAX_REDIRECTS + 1):
            # The allowance covers connecting and the answer's headers; the body's size extends it.
            with watch(self.deadline.seconds_for(0)) as transfer:
                try:
                    with guarded_stream(self.client, self.endpoints.map_url(url), transfer) as response:
                        location = response.headers.get("location", "") if response.is_redirect else None
                        if location is None:
                            return self._answer(response, url, max_bytes, transfer)
                except (httpx.TransportError, TransientError) as exc:
                    if transfer.expired:  # cut before the answer's size was known: the allowance ran out
                        raise self._too_slow(url, 0) from exc
                    raise
            target = urljoin(url, location)
            self._check(target)
            url = target
        raise FetchError(f"{url}: more than {MAX_REDIRECTS} redirects")

    def _too_slow(self, url: str, size: int) -> FetchTooSlowError:
        return FetchTooSlowError(f"{url}: {self.deadline.describe(size)}")

    def _answer(self, response: httpx.Response, url: str, max_bytes: int, transfer: Watch) -> bytes:
        raise_for_transient(response, url)
        if response.status_code in (403, 404):
            raise UpstreamNotFoundError(f"{url}: HTTP {response.status_code} (not published yet?)")
        if response.status_code != 200:
            raise FetchError(f"{url}: unexpected HTTP {response.status_code}")
        declared = content_length(response.headers, url)
        if declared is not None and declared > max_bytes:
            raise FetchError(f"{url}: {declared} bytes is over the {max_bytes}-byte limit")
        size = max_bytes if declared is None else declared
        transfer.reset(self.deadline.seconds_for(size))
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        decoder = None if encoding == "identity" else _BoundedDecoder(encoding, max_bytes, url)
        body = bytearray()
        received = 0  # bytes on the wire, which is what Content-Length counts
        # Without an encoding iter_bytes is the wire's bytes as they are; with one, the raw bytes go
        # through the bounded decoder instead of httpx's (which would inflate a whole chunk at once).
        try:
            for chunk in response.iter_raw() if decoder else response.iter_bytes():
                received += len(chunk)
                if received > max_bytes:
                    raise FetchError(f"{url}: body is over the {max_bytes}-byte limit")
                body += decoder.decode(chunk, len(body)) if decoder else chunk
        except httpx.TransportError as exc:
            if transfer.expired:
                raise self._too_slow(url, size) from exc
            raise
        if transfer.expired:  # a body without a length ends "cleanly" when its socket is shut
            raise self._too_slow(url, size)
        if declared is not None and received != declared:
            raise TransientError(f"{url}: truncated body ({received} of {declared} bytes)")
        if decoder:
            decoder.finish()
        return bytes(body)


def manifest_url(channel: str, number: int, host: str = "distro.eks.amazonaws.com") -> str:
    return f"https://{host}/kubernetes-{channel}/kubernetes-{channel}-eks-{number}.yaml"


def release_channel_url(channel: str, host: str = "distro.eks.amazonaws.com") -> str:
    return f"https://{host}/releasechannels/{channel}.yaml"
