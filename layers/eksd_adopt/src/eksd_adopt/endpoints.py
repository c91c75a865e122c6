"""Upstream URL policy: HTTPS to allow-listed hosts only, and the host-to-endpoint mapping.

The mapping (``public.ecr.aws=http://127.0.0.1:5001``) lets the local runtime serve an upstream
host from a local server. Every check is made on the *upstream* URL before it is mapped, so the
mapping cannot be used to reach a host the policy does not allow.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from eksd_adopt.errors import FetchError


@dataclass(frozen=True)
class EndpointMap:
    """Maps an upstream host to a base URL that serves it (scheme://host:port)."""

    overrides: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, items: Iterable[str]) -> EndpointMap:
        """From ``HOST=URL`` strings, as given on the command line or in configuration."""
        overrides: dict[str, str] = {}
        for item in items:
            host, sep, url = item.partition("=")
            parts = urlsplit(url)
            if not sep or not host or parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"endpoint {item!r} must be HOST=URL, e.g. public.ecr.aws=http://127.0.0.1:5001")
            overrides[host.strip().lower()] = url.rstrip("/")
        return cls(overrides)

    def to_strings(self) -> list[str]:
        return [f"{host}={url}" for host, url in sorted(self.overrides.items())]

    def base_url(self, host: str) -> str:
        """The base URL that serves ``host``: its override, or ``https://host``."""
        return self.overrides.get(host.lower(), f"https://{host}")

    def map_url(self, url: str) -> str:
        parts = urlsplit(url)
        override = self.overrides.get((parts.hostname or "").lower())
        if not override:
            return url
        base = urlsplit(override)
        return urlunsplit((base.scheme, base.netloc, base.path + parts.path, parts.query, ""))


def check_upstream_url(url: str, allowed_hosts: Iterable[str]) -> None:
    """Refuse anything but https on an allow-listed host, before any mapping or connection."""
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise FetchError(f"refusing {url!r}: only https URLs are fetched")
    if parts.username or parts.password:
        raise FetchError(f"refusing {url!r}: credentials in URLs are not allowed")
    allowed = set(allowed_hosts)
    if (parts.hostname or "").lower() not in allowed or parts.port not in (None, 443):
        raise FetchError(
            f"refusing {url!r}: host {parts.hostname!r} is not allow-listed ({', '.join(sorted(allowed))})"
        )
