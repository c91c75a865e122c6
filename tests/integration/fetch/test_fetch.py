"""Fetching upstream documents through a real loopback HTTP server: mapping, limits, redirects, retries."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from eksd_adopt.endpoints import EndpointMap, check_upstream_url
from eksd_adopt.errors import FetchError, UpstreamNotFoundError
from eksd_adopt.fetch import DocumentFetcher, manifest_url
from eksd_adopt.retry import RetryPolicy

HOST = "distro.eks.amazonaws.com"


class _Upstream(BaseHTTPRequestHandler):
    routes: dict[str, list[tuple[int, dict[str, str], bytes]]] = {}
    hits: dict[str, int] = {}

    def do_GET(self) -> None:
        self.hits[self.path] = self.hits.get(self.path, 0) + 1
        answers = self.routes.get(self.path, [(404, {}, b"missing")])
        status, headers, body = answers[min(self.hits[self.path], len(answers)) - 1]
        self.send_response(status)
        headers = {"Content-Length": str(len(body)), **headers}
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if status != 204:
            self.wfile.write(body[: int(headers.get("X-Send", len(body)))])

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def upstream() -> Iterator[tuple[type[_Upstream], str]]:
    _Upstream.routes = {}
    _Upstream.hits = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield _Upstream, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _fetcher(base: str) -> DocumentFetcher:
    return DocumentFetcher(
        [HOST], EndpointMap.parse([f"{HOST}={base}"]), retry=RetryPolicy(attempts=3, initial_backoff=0.01)
    )


def test_endpoint_mapping_serves_the_upstream_host(upstream: tuple[type[_Upstream], str]) -> None:
    handler, base = upstream
    handler.routes["/kubernetes-1-20/kubernetes-1-20-eks-1.yaml"] = [(200, {}, b"kind: Release\n")]
    assert _fetcher(base).fetch(manifest_url("1-20", 1), max_bytes=1000) == b"kind: Release\n"


def test_404_is_reported_as_not_found(upstream: tuple[type[_Upstream], str]) -> None:
    with pytest.raises(UpstreamNotFoundError, match="HTTP 404"):
        _fetcher(upstream[1]).fetch(manifest_url("1-20", 9), max_bytes=1000)


@pytest.mark.reliability(
    area="fetch", fault="CDN answers 500 then 503 Retry-After", expected="retried, document fetched"
)
def test_5xx_is_retried_then_succeeds(upstream: tuple[type[_Upstream], str]) -> None:
    handler, base = upstream
    handler.routes["/doc"] = [(500, {}, b"oops"), (503, {"Retry-After": "0"}, b""), (200, {}, b"ok")]
    assert _fetcher(base).fetch(f"https://{HOST}/doc", max_bytes=100) == b"ok"
    assert handler.hits["/doc"] == 3


def test_5xx_gives_up_after_retries(upstream: tuple[type[_Upstream], str]) -> None:
    handler, base = upstream
    handler.routes["/doc"] = [(500, {}, b"oops")]
    with pytest.raises(FetchError, match="gave up after retries"):
        _fetcher(base).fetch(f"https://{HOST}/doc", max_bytes=100)
    assert handler.hits["/doc"] == 3


@pytest.mark.reliability(area="fetch", fault="truncated manifest body", expected="retried, full body fetched")
def test_truncated_body_is_retried(upstream: tuple[type[_Upstream], str]) -> None:
    handler, base = upstream
    handler.routes["/doc"] = [(200, {"X-Send": "3"}, b"0123456789"), (200, {}, b"0123456789")]
    assert _fetcher(base).fetch(f"https://{HOST}/doc", max_bytes=100) == b"0123456789"


@pytest.mark.reliability(area="fetch", fault="oversized document from the CDN", expected="refused while reading")
def test_size_cap_is_enforced(upstream: tuple[type[_Upstream], str]) -> None:
    handler, base = upstream
    handler.routes["/big"] = [(200, {}, b"x" * 2000)]
    with pytest.raises(FetchError, match="over the 1000-byte limit"):
        _fetcher(base).fetch(f"https://{HOST}/big", max_bytes=1000)


@pytest.mark.reliability(area="fetch", fault="CDN redirects to 169.254.169.254", expected="refused, never followed")
def test_redirect_to_another_host_is_refused(
    upstream: tuple[type[_Upstream], str], observed: Callable[[str], None]
) -> None:
    handler, base = upstream
    handler.routes["/moved"] = [(302, {"Location": "https://169.254.169.254/latest/meta-data/"}, b"")]
    with pytest.raises(FetchError, match="not allow-listed") as info:
        _fetcher(base).fetch(f"https://{HOST}/moved", max_bytes=100)
    observed(str(info.value))


def test_redirect_within_the_allowed_host_is_followed(upstream: tuple[type[_Upstream], str]) -> None:
    handler, base = upstream
    handler.routes["/moved"] = [(301, {"Location": "/here"}, b"")]
    handler.routes["/here"] = [(200, {}, b"arrived")]
    assert _fetcher(base).fetch(f"https://{HOST}/moved", max_bytes=100) == b"arrived"


@pytest.mark.reliability(
    area="fetch",
    fault="URL: plain http, file://, 169.254.169.254, look-alike host, credentials, other port",
    expected="refused before any connection",
)
@pytest.mark.parametrize(
    "url",
    [
        "http://distro.eks.amazonaws.com/x.yaml",
        "file:///etc/passwd",
        "https://169.254.169.254/latest/meta-data/",
        "https://distro.eks.amazonaws.com.evil.example/x",
        "https://user:pw@distro.eks.amazonaws.com/x",
        "https://distro.eks.amazonaws.com:8443/x",
    ],
)
def test_urls_outside_policy_are_refused_before_any_connection(url: str) -> None:
    with pytest.raises(FetchError, match="refusing"):
        check_upstream_url(url, [HOST])


@pytest.mark.parametrize("item", ["nohost", "public.ecr.aws=ftp://x", "=http://127.0.0.1:1"])
def test_bad_endpoint_mappings_are_refused(item: str) -> None:
    with pytest.raises(ValueError, match="HOST=URL"):
        EndpointMap.parse([item])
