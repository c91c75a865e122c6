"""Upstream URL policy: HTTPS to allow-listed hosts only, the host-to-endpoint mapping, and where a registry client may send requests.

The mapping (``public.ecr.aws=http://127.0.0.1:5001``) lets the local runtime serve an upstream
host from a local server. Every check is made on the *upstream* URL before it is mapped, so the
mapping cannot be used to reach a host the policy does not allow.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import NamedTuple
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


# --- where the image mirror may send a request ---------------------------------------------------
#
# One policy for every request a registry client makes: registry calls, the redirects it follows
# (blob GETs go to S3 or a CDN), and bearer-token realms named by a WWW-Authenticate challenge. The
# URL is checked here before any connection; the address a host name resolves to is checked again
# when the connection is made (eksd_adopt.images.client), so a name cannot lead to a private address.

MAX_URL_LENGTH = 8192  # S3 presigned and CloudFront signed URLs run to 1-2 KB
_DEFAULT_PORTS = {"http": 80, "https": 443}
_URL_CHARACTERS = re.compile(r"[\x21-\x7e]+", re.ASCII)  # visible ASCII: no spaces, controls or look-alikes
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
# A host name whose last label is numeric is no DNS name: resolvers read "2130706433" or "127.1" as addresses.
_HOST_NAME = rf"(?:{_LABEL}\.)*[A-Za-z](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?"
_IPV4 = r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}"
_NETLOC = re.compile(rf"(?P<host>{_HOST_NAME}|{_IPV4}|\[[0-9A-Fa-f:.]+\])(?::(?P<port>[0-9]{{1,5}}))?", re.ASCII)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class DestinationRefusedError(FetchError):
    """A request the policy refuses (scheme, host, address or token realm), refused before any connection."""


class Origin(NamedTuple):
    """Scheme, lower-case host and port: what decides where credentials may go."""

    scheme: str
    host: str
    port: int

    @classmethod
    def of(cls, url: str) -> Origin:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        return cls(scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme, 0))


def is_public_address(address: str) -> bool:
    """True for a globally routable unicast address; loopback, private, link-local, shared, multicast and
    reserved addresses are not public, nor are IPv6 forms that embed a non-public IPv4 address."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    embedded: list[ipaddress.IPv4Address] = []
    if isinstance(ip, ipaddress.IPv6Address):
        for v4 in (ip.ipv4_mapped, ip.sixtofour, ip.teredo[1] if ip.teredo else None):
            if v4 is not None:
                embedded.append(v4)
        if ip in _NAT64:
            embedded.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return (
        ip.is_global
        and not ip.is_multicast
        and not ip.is_reserved
        and all(v4.is_global and not v4.is_multicast for v4 in embedded)
    )


@dataclass(frozen=True)
class Destination:
    """A URL the policy allows, where it is sent (after mapping), and whether the registry's credentials may go with it."""

    url: str
    origin: Origin
    credentials: bool


@dataclass(frozen=True)
class RequestPolicy:
    """What a registry client may contact besides its own origin: the ``--endpoint`` mapping (hosts served
    from other URLs, e.g. loopback servers in the local runtime) and the hosts allowed to serve bearer
    tokens for a registry other than the registry itself (``UpstreamPolicy.registry_auth_hosts``)."""

    endpoints: EndpointMap = field(default_factory=EndpointMap)
    auth_hosts: frozenset[str] = frozenset()

    def for_registry(self, base_url: str, host: str | None = None) -> RegistryRoutes:
        """The routes of one registry client: its base URL, and the upstream host name it stands for."""
        home = Origin.of(base_url)
        return RegistryRoutes(self, home, (host or home.host).lower())


@dataclass(frozen=True)
class RegistryRoutes:
    """The request policy as one registry client applies it (see :meth:`destination`)."""

    policy: RequestPolicy
    home: Origin  # the registry's own origin (its base URL): the only one credentials are sent to
    host: str  # the upstream host name the registry stands for (public.ecr.aws when mapped to loopback)

    @cached_property
    def configured_origins(self) -> frozenset[Origin]:
        """Origins an operator configured (this registry and every mapping target): any scheme and address."""
        return frozenset({self.home} | {Origin.of(url) for url in self.policy.endpoints.overrides.values()})

    def destination(self, url: str, *, token_realm: bool = False) -> Destination:
        """Where ``url`` may be fetched from, or DestinationRefusedError before any connection.

        Allowed: a configured origin as it is (its own scheme, loopback included); a mapped upstream
        host over https, sent to its mapping; any other host over https when it is a name or a public
        address (the name's addresses are checked when connecting). A token realm must also be the
        registry's own host or an allow-listed auth host. Credentials go to the registry's own origin only.
        """
        origin = _parse_checked(url)
        mapped_hosts = self.policy.endpoints.overrides
        if token_realm and not self._may_serve_tokens(origin):
            raise DestinationRefusedError(
                f"refusing token realm {_shown(url)}: {origin.host!r} is neither the registry's own host "
                f"({self.host}) nor an allow-listed auth host"
            )
        if origin in self.configured_origins:
            return Destination(url, origin, origin == self.home)
        if origin.scheme != "https":
            raise DestinationRefusedError(f"refusing {_shown(url)}: only https outside the configured endpoints")
        if origin.host in mapped_hosts:
            if origin.port != 443:
                raise DestinationRefusedError(f"refusing {_shown(url)}: mapped host {origin.host} on another port")
            mapped = self.policy.endpoints.map_url(url)
            target = Origin.of(mapped)
            return Destination(mapped, target, target == self.home)
        if _is_ip_literal(origin.host) and not is_public_address(origin.host):
            raise DestinationRefusedError(
                f"refusing {_shown(url)}: {origin.host} is not a public address (loopback, private or link-local)"
            )
        return Destination(url, origin, False)

    def _may_serve_tokens(self, origin: Origin) -> bool:
        if origin == self.home or origin.host in self.policy.auth_hosts or origin.host == self.host:
            return True
        # A configured origin stands for the upstream hosts mapped to it.
        return any(
            Origin.of(url) == origin and (host == self.host or host in self.policy.auth_hosts)
            for host, url in self.policy.endpoints.overrides.items()
        )


def _parse_checked(url: str) -> Origin:
    if len(url) > MAX_URL_LENGTH or not _URL_CHARACTERS.fullmatch(url):
        raise DestinationRefusedError(
            f"refusing {_shown(url)}: not a URL of at most {MAX_URL_LENGTH} visible ASCII characters"
        )
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. an IPv4 address in brackets
        raise DestinationRefusedError(f"refusing {_shown(url)}: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.netloc:
        raise DestinationRefusedError(f"refusing {_shown(url)}: only http(s)://host URLs")
    if "@" in parts.netloc:
        raise DestinationRefusedError(f"refusing {_shown(url)}: credentials in URLs are not allowed")
    match = _NETLOC.fullmatch(parts.netloc)
    raw = match["host"] if match else ""
    host = raw[1:-1] if raw.startswith("[") else raw
    literal = raw.startswith("[") or (bool(raw) and raw[-1].isdigit())
    port = int(match["port"]) if match and match["port"] else None
    if (
        not match
        or (literal and not _is_ip_literal(host))
        or (raw.startswith("[") and ":" not in host)
        or port == 0
        or (port or 0) > 65535
    ):
        raise DestinationRefusedError(f"refusing {_shown(url)}: {parts.netloc[:100]!r} is not host[:port]")
    return Origin(scheme, host.lower(), port or _DEFAULT_PORTS[scheme])


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _shown(url: str) -> str:
    return repr(url[:200] + ("..." if len(url) > 200 else ""))
