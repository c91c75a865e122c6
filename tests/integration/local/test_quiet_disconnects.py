"""Loopback stand-ins take a client's reset or closed connection quietly: no traceback on stderr."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from eksd_adopt.local.aws import LocalAws
from eksd_adopt.local.cdn import LocalCdn
from eksd_adopt.local.faultproxy import FaultProxy
from eksd_adopt.local.httpserver import LoopbackHTTPServer


@contextmanager
def _cdn(tmp_path: Path) -> Iterator[tuple[str, LoopbackHTTPServer]]:
    (tmp_path / "file").write_bytes(b"x" * 100)
    cdn = LocalCdn(tmp_path)
    with cdn as url:
        assert cdn._server is not None
        yield url, cdn._server


@contextmanager
def _proxy(tmp_path: Path) -> Iterator[tuple[str, LoopbackHTTPServer]]:
    with _cdn(tmp_path) as (upstream, _), FaultProxy(upstream) as proxy:
        assert proxy._server is not None
        yield proxy.url, proxy._server


@contextmanager
def _approvals(tmp_path: Path) -> Iterator[tuple[str, LoopbackHTTPServer]]:
    with LocalAws() as runtime:
        assert runtime._endpoint is not None
        yield runtime.approvals_url, runtime._endpoint


Server = Callable[[Path], AbstractContextManager[tuple[str, LoopbackHTTPServer]]]


def _reset_mid_request(url: str, *, keep_alive_first: bool) -> None:
    """A client that sends part of a request (after a whole one, when kept alive) and then resets."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as client:
        if keep_alive_first:
            client.sendall(b"GET /file HTTP/1.1\r\nHost: local\r\n\r\n")
            client.recv(65536)
        client.sendall(b"GET /file HTTP/1.1\r\nHost: loc")
        time.sleep(0.05)  # the server is now reading the rest of the headers
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close() sends RST


@pytest.mark.reliability(
    area="local runtime",
    fault="a client resets its connection to a loopback stand-in (CDN, fault proxy, approvals endpoint) mid-request",
    expected="the server counts a disconnect and prints no traceback",
)
@pytest.mark.parametrize(("server", "keep_alive"), [(_cdn, True), (_proxy, True), (_approvals, False)])
def test_a_reset_connection_prints_no_traceback(
    server: Server, keep_alive: bool, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    with server(tmp_path) as (url, http):
        _reset_mid_request(url, keep_alive_first=keep_alive)
        err, deadline = "", time.monotonic() + 5
        while http.disconnects == 0 and "Traceback" not in err and time.monotonic() < deadline:
            time.sleep(0.02)
            err += capfd.readouterr().err
        err += capfd.readouterr().err
        assert "Traceback" not in err and "ConnectionResetError" not in err, err
        assert http.disconnects == 1


def test_other_errors_still_print_their_traceback(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """Only disconnects are quiet: a handler that fails on its own still shows why."""

    class Failing(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            raise ValueError("handler bug")

    server = LoopbackHTTPServer(("127.0.0.1", 0), Failing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with socket.create_connection(server.server_address[:2], timeout=5) as client:
            client.sendall(b"GET / HTTP/1.0\r\n\r\n")
            client.recv(100)
    finally:
        server.shutdown()
        server.server_close()
    deadline = time.monotonic() + 5
    err = ""
    while "ValueError" not in err and time.monotonic() < deadline:
        err += capfd.readouterr().err
        time.sleep(0.02)
    assert "ValueError: handler bug" in err
    assert server.disconnects == 0
