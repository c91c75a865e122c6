"""A registry whose bearer-token endpoint answers badly: a clear RegistryError naming the endpoint."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from eksd_adopt.images.client import RegistryClient
from eksd_adopt.images.errors import RegistryError


def _server(token_body: bytes, token_status: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            if self.path.startswith("/token"):
                status, body, headers = token_status, token_body, {"Content-Type": "application/json"}
            else:
                realm = f"http://127.0.0.1:{self.server.server_address[1]}/token"
                status, body, headers = 401, b"", {"WWW-Authenticate": f'Bearer realm="{realm}",service="s"'}
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command == "GET":
                self.wfile.write(body)

    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


@pytest.fixture
def registry(request: pytest.FixtureRequest) -> Iterator[str]:
    server = _server(*request.param)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("registry", "message"),
    [
        ((b"<html>gateway</html>", 200), "returned no JSON"),
        ((b'{"expires_in": 60}', 200), "returned no token"),
        ((b'["token"]', 200), "returned no token"),
        ((b"{}", 403), "answered HTTP 403"),
    ],
    indirect=["registry"],
    ids=["not-json", "no-token", "not-an-object", "forbidden"],
)
@pytest.mark.reliability(
    area="images",
    fault="the registry's bearer-token endpoint answers non-JSON, no token, or 403",
    expected="RegistryError naming the token endpoint; nothing retried forever",
)
def test_a_bad_token_endpoint_is_a_clear_registry_error(registry: str, message: str) -> None:
    client = RegistryClient(registry)
    with pytest.raises(RegistryError, match=f"token endpoint {registry}/token {message}"):
        client.head_manifest("eks-distro/pause", "v1")
    client.close()
