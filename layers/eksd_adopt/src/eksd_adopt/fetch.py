"""Fetching small upstream documents (release manifests, release-channel files) safely.

HTTPS to allow-listed hosts only (checked before the endpoint mapping), a size cap enforced while
reading, timeouts, retries on 5xx and resets, and redirects followed only to allow-listed hosts.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urljoin

import httpx

from eksd_adopt.endpoints import EndpointMap, check_upstream_url
from eksd_adopt.errors import FetchError, UpstreamNotFoundError
from eksd_adopt.retry import RetryPolicy, TransientError, raise_for_transient

MAX_REDIRECTS = 3


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
    ) -> None:
        self.allowed_hosts = frozenset(allowed_hosts)
        self.endpoints = endpoints or EndpointMap()
        self.client = client or httpx.Client(timeout=timeout, follow_redirects=False)
        self.retry = retry or RetryPolicy(attempts=4)

    def fetch(self, url: str, *, max_bytes: int) -> bytes:
        """The body of ``url``. Raises :class:`UpstreamNotFoundError` on 403/404, :class:`FetchError` otherwise."""
        check_upstream_url(url, self.allowed_hosts)
        try:
            return self.retry.call(self._fetch_following_redirects, url, max_bytes)
        except TransientError as exc:
            raise FetchError(f"{url}: {exc} (gave up after retries)") from exc
        except httpx.TransportError as exc:
            raise FetchError(f"{url}: {type(exc).__name__}: {exc} (gave up after retries)") from exc

    def _fetch_following_redirects(self, url: str, max_bytes: int) -> bytes:
        for _ in range(MAX_REDIRECTS + 1):
            with self.client.stream("GET", self.endpoints.map_url(url)) as response:
                if response.is_redirect:
                    target = urljoin(url, response.headers.get("location", ""))
                    check_upstream_url(target, self.allowed_hosts)
                    url = target
                    continue
                raise_for_transient(response, url)
                if response.status_code in (403, 404):
                    raise UpstreamNotFoundError(f"{url}: HTTP {response.status_code} (not published yet?)")
                if response.status_code != 200:
                    raise FetchError(f"{url}: unexpected HTTP {response.status_code}")
                declared = int(response.headers.get("content-length") or 0)
                if declared > max_bytes:
                    raise FetchError(f"{url}: {declared} bytes is over the {max_bytes}-byte limit")
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > max_bytes:
                        raise FetchError(f"{url}: body is over the {max_bytes}-byte limit")
                if declared and len(body) != declared:
                    raise TransientError(f"{url}: truncated body ({len(body)} of {declared} bytes)")
                return bytes(body)
        raise FetchError(f"{url}: more than {MAX_REDIRECTS} redirects")


def manifest_url(channel: str, number: int, host: str = "distro.eks.amazonaws.com") -> str:
    return f"https://{host}/kubernetes-{channel}/kubernetes-{channel}-eks-{number}.yaml"


def release_channel_url(channel: str, host: str = "distro.eks.amazonaws.com") -> str:
    return f"https://{host}/releasechannels/{channel}.yaml"
