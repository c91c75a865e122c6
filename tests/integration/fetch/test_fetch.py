"""Fetching upstream documents through a real loopback HTTP server: mapping, limits, redirects, retries."""

from __future__ import annotations

import gzip
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from eksd_adopt.deadline import TransferDeadline
from eksd_adopt.endpoints import EndpointMap, check_upstream_url
from eksd_adopt.errors import FetchError, UpstreamNotFoundError
from eksd_adopt.fetch import DocumentFetcher, FetchTooSlowError, manifest_url
from eksd_adopt.local.faultproxy import ConnectionSentinel
from eksd_adopt.retry import RetryPolicy

HOST = "distro.eks.amazonaws.com"


class _Upstream(BaseHTTPRequestHandler):
    """Answers from ``routes``. Test-only headers shape the answer: ``X-Send`` (bytes actually sent),
    ``X-Gzip`` (``if-asked``: compress when the request accepts gzip, as a CDN does; ``always``),
    ``X-Trickle`` (seconds between single bytes after the first ten), ``X-Trickle-Headers`` (the
    headers themselves trickled: a long header one byte every that many seconds)."""

    routes: dict[str, list[tuple[int, dict[str, str], bytes]]] = {}
    hits: dict[str, int] = {}
    accept_encodings: list[str | None] = []

    def do_GET(self) -> None:
        self.hits[self.path] = self.hits.get(self.path, 0) + 1
        self.accept_encodings.append(self.headers.get("Accept-Encoding"))
        answers = self.routes.get(self.path, [(404, {}, b"missing")])
        status, headers, body = answers[min(self.hits[self.path], len(answers)) - 1]
        headers = dict(headers)
        gzip_mode = headers.pop("X-Gzip", None)
        trickle = float(headers.pop("X-Trickle", 0))
        if "X-Trickle-Headers" in headers:
            self._trickle_headers(float(headers["X-Trickle-Headers"]))
            return
        if gzip_mode == "always" or (gzip_mode == "if-asked" and "gzip" in self.headers.get("Accept-Encoding", "")):
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        self.send_response(status)
        headers = {"Content-Length": str(len(body)), **headers}
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if status == 204:
            return
        body = body[: int(headers.get("X-Send", len(body)))]
        try:
            if not trickle:
                self.wfile.write(body)
                return
            self.wfile.write(body[:10])
            for index in range(10, len(body)):
                self.wfile.flush()
                time.sleep(trickle)
                self.wfile.write(body[index : index + 1])
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up, which is what a trickle test wants

    def _trickle_headers(self, interval: float) -> None:
        try:
            self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Pad: ")
            for _ in range(1000):
                self.wfile.flush()
                time.sleep(interval)
                self.wfile.write(b"a")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up, which is what the test wants
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def upstream() -> Iterator[tuple[type[_Upstream], str]]:
    _Upstream.routes = {}
    _Upstream.hits = {}
    _Upstream.accept_encodings = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield _Upstream, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def _fetcher(base: str, **kwargs: Any) -> DocumentFetcher:
    return DocumentFetcher(
        [HOST], EndpointMap.parse([f"{HOST}={base}"]), retry=RetryPolicy(attempts=3, initial_backoff=0.01), **kwargs
    )


@pytest.fixture
def refused_host() -> Iterator[ConnectionSentinel]:
    with ConnectionSentinel("127.0.0.2") as listener:
        yield listener


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


# --- Content-Encoding: the length checked is the one on the wire ---------------------------------------

MANIFEST_BODY = b"apiVersion: distro.eks.amazonaws.com/v1alpha1\nkind: Release\n" * 200


@pytest.mark.reliability(
    area="fetch",
    fault="CDN gzip-encodes the manifest when the client accepts gzip (decoded length != Content-Length)",
    expected="fetched whole: identity is asked for, so the size and truncation checks are about the wire",
)
def test_a_cdn_that_compresses_when_asked_is_read_whole(upstream: tuple[type[_Upstream], str]) -> None:
    handler, base = upstream
    handler.routes["/doc"] = [(200, {"X-Gzip": "if-asked"}, MANIFEST_BODY)]
    assert _fetcher(base).fetch(f"https://{HOST}/doc", max_bytes=1 << 20) == MANIFEST_BODY
    assert handler.accept_encodings == ["identity"]


@pytest.mark.reliability(
    area="fetch",
    fault="CDN gzip-encodes the manifest although identity was asked for",
    expected="decoded and fetched whole (refused as truncated before)",
)
def test_a_correctly_gzip_encoded_body_is_decoded(upstream: tuple[type[_Upstream], str]) -> None:
    handler, base = upstream
    handler.routes["/doc"] = [(200, {"X-Gzip": "always"}, MANIFEST_BODY)]
    assert _fetcher(base).fetch(f"https://{HOST}/doc", max_bytes=1 << 20) == MANIFEST_BODY
    assert handler.hits["/doc"] == 1


@pytest.mark.reliability(
    area="fetch",
    fault="gzip bomb: 100 KiB on the wire that inflate to 100 MiB",
    expected="refused once decompressed past the cap, without inflating the rest",
)
def test_a_decompression_bomb_is_refused_at_the_cap(upstream: tuple[type[_Upstream], str]) -> None:
    handler, base = upstream
    bomb = zlib.compress(b"\0" * (100 << 20), 9)
    handler.routes["/doc"] = [(200, {"Content-Encoding": "deflate"}, bomb)]
    with pytest.raises(FetchError, match="over the 1048576-byte limit once decompressed"):
        _fetcher(base).fetch(f"https://{HOST}/doc", max_bytes=1 << 20)


def test_an_unknown_content_encoding_is_refused(upstream: tuple[type[_Upstream], str]) -> None:
    handler, base = upstream
    handler.routes["/doc"] = [(200, {"Content-Encoding": "br"}, b"xx")]
    with pytest.raises(FetchError, match="unsupported Content-Encoding 'br'"):
        _fetcher(base).fetch(f"https://{HOST}/doc", max_bytes=100)


# --- A whole-transfer deadline besides the per-read timeout ---------------------------------------------


@pytest.mark.reliability(
    area="fetch",
    fault="CDN trickles the manifest one byte every 0.2 s (each byte resets the read timeout)",
    expected="given up once below min_throughput after the allowance, not waited on to the end",
)
def test_a_trickled_body_hits_the_transfer_deadline(
    upstream: tuple[type[_Upstream], str], observed: Callable[[str], None]
) -> None:
    handler, base = upstream
    handler.routes["/doc"] = [(200, {"X-Trickle": "0.2"}, MANIFEST_BODY[:400])]  # 78 s at this pace
    fetcher = _fetcher(base, timeout=5.0, deadline=TransferDeadline(min_throughput=1000, allowance=1.0))
    started = time.monotonic()
    with pytest.raises(FetchTooSlowError, match=r"not done within 1 s \(400 bytes at the minimum 1000") as info:
        fetcher.fetch(f"https://{HOST}/doc", max_bytes=1 << 20)
    assert time.monotonic() - started < 30  # far from the 78 s the trickle would take; not a timing claim
    assert handler.hits["/doc"] == 1  # not retried: a slow transfer is not made faster by starting over
    observed(str(info.value))


@pytest.mark.reliability(
    area="fetch",
    fault="CDN trickles the response headers one byte every 0.2 s (before any body)",
    expected="the connection is shut at the deadline's allowance; a clear error, not a wait",
)
def test_trickled_headers_are_cut_at_the_allowance(
    upstream: tuple[type[_Upstream], str], observed: Callable[[str], None]
) -> None:
    handler, base = upstream
    handler.routes["/doc"] = [(200, {"X-Trickle-Headers": "0.2"}, b"")]  # 200 s of headers at this pace
    fetcher = _fetcher(base, timeout=5.0, deadline=TransferDeadline(min_throughput=1000, allowance=1.0))
    started = time.monotonic()
    with pytest.raises(FetchTooSlowError, match="not done within") as info:
        fetcher.fetch(f"https://{HOST}/doc", max_bytes=1 << 20)
    assert time.monotonic() - started < 30  # far from the 200 s; the per-read timeout (5 s) never fired
    observed(str(info.value))


def test_a_slow_but_steady_transfer_within_the_deadline_completes(upstream: tuple[type[_Upstream], str]) -> None:
    handler, base = upstream
    handler.routes["/doc"] = [(200, {"X-Trickle": "0.01"}, MANIFEST_BODY[:60])]
    fetcher = _fetcher(base, timeout=5.0, deadline=TransferDeadline(min_throughput=1, allowance=30.0))
    assert fetcher.fetch(f"https://{HOST}/doc", max_bytes=1 << 20) == MANIFEST_BODY[:60]


# --- Nothing the policy refuses is ever connected to ---------------------------------------------------


@pytest.mark.reliability(
    area="fetch",
    fault="URL or redirect to 127.0.0.2 (https, http, userinfo, tab in host), a URL with an invalid port",
    expected="refused before any connection: the listener on 127.0.0.2 sees none; no traceback",
)
@pytest.mark.parametrize(
    "target",
    [
        "https://{sentinel}/x.yaml",
        "http://{sentinel}/x.yaml",
        "https://distro.eks.amazonaws.com@{sentinel}/x.yaml",
        "https://distro.eks.amazonaws.com\t.{sentinel}/x.yaml",
        "//{sentinel}/x.yaml",
    ],
)
def test_refused_targets_are_never_connected_to(
    upstream: tuple[type[_Upstream], str],
    refused_host: ConnectionSentinel,
    target: str,
    observed: Callable[[str], None],
) -> None:
    handler, base = upstream
    url = target.format(sentinel=f"{refused_host.host}:{refused_host.port}")
    handler.routes["/moved"] = [(302, {"Location": url}, b"")]
    # httpx itself refuses a Location it cannot parse (a tab, a bad port): either way, no request.
    with pytest.raises(FetchError, match=r"refusing|Invalid URL in location header") as redirected:
        _fetcher(base).fetch(f"https://{HOST}/moved", max_bytes=100)
    if url.startswith("https://"):
        with pytest.raises(FetchError, match="refusing"):
            _fetcher(base).fetch(url, max_bytes=100)
    assert refused_host.connections == 0
    observed(str(redirected.value)[:160])


@pytest.mark.parametrize("port", ["99999", "abc", "-1"])
def test_an_invalid_port_is_an_error_not_a_crash(upstream: tuple[type[_Upstream], str], port: str) -> None:
    handler, base = upstream
    with pytest.raises(FetchError, match="refusing"):
        _fetcher(base).fetch(f"https://{HOST}:{port}/x.yaml", max_bytes=100)
    handler.routes["/moved"] = [(302, {"Location": f"https://{HOST}:{port}/x.yaml"}, b"")]
    with pytest.raises(FetchError, match=r"refusing|Invalid URL in location header"):
        _fetcher(base).fetch(f"https://{HOST}/moved", max_bytes=100)
