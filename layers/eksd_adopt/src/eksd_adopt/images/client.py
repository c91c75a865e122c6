"""An OCI distribution API client on urllib3: auth challenges, manifests byte for byte, streamed blob uploads.

Auth covers what the mirror meets: the anonymous bearer-token challenge of ECR Public (and any
``WWW-Authenticate: Bearer realm=...`` registry), HTTP basic auth from ECR's
``GetAuthorizationToken`` (sent up front, as ECR expects) and plain HTTP without auth for loopback
registries. Requests made here do not retry on their own: the copier decides what one retried
unit is (a whole blob transfer restarts with a new upload session, because ECR answers 416 to a
retry inside a failed session); :meth:`RegistryClient.retried` wraps small calls. Every transport
failure (refused, reset, timed out, cut short) leaves this module as :class:`TransientError`.

The registry is not trusted. Every request goes through one policy
(:class:`eksd_adopt.endpoints.RequestPolicy`): redirects are followed here, a bounded number of hops,
each checked, and only for GET and HEAD; token realms must be the registry's own host or an allow-listed
auth host; credentials go to the registry's own origin only. Connections to any other host are made
only to the public addresses its name resolves to (checked when connecting, so no second lookup can
swap them). Every body read is bounded in size (manifests: 4 MiB, while reading) and every transfer in
time: besides the per-read timeout, a whole-transfer deadline from its size (:mod:`eksd_adopt.deadline`).

Why urllib3 and not httpx (which the rest of the project uses for the CDN): every byte of every
layer passes through here twice, and a blob streamed through httpx cost 2.5-3 s of CPU per GiB on
the 2-core benchmark machine against 1.0 s through urllib3 (sha256 included), which the receiving
registry, short of CPU itself, turned straight into copy time. urllib3 is already here as botocore's
HTTP client.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode, urljoin, urlsplit

import urllib3
from tenacity import RetryCallState
from urllib3._collections import HTTPHeaderDict
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NameResolutionError, NewConnectionError
from urllib3.exceptions import HTTPError as TransportError
from urllib3.util import connection as urllib3_connection
from urllib3.util.timeout import _DEFAULT_TIMEOUT

from eksd_adopt.deadline import TransferDeadline, TransferTooSlowError, Watch, watch
from eksd_adopt.endpoints import Destination, DestinationRefusedError, RequestPolicy, is_public_address
from eksd_adopt.images.errors import RegistryError, RegistryUnavailableError
from eksd_adopt.images.media import ACCEPT, MAX_BLOB_BYTES, MAX_MANIFEST_BYTES, OCI_INDEX, Descriptor, Manifest
from eksd_adopt.reference import is_digest
from eksd_adopt.retry import RETRYABLE_STATUS, RetryPolicy, TransientError, raise_for_transient_status

T = TypeVar("T")
# Measured on the image bench (urllib3): 1 MiB reads cost 0.4 s less CPU per cold copy than 128 KiB and
# copied no slower (kernel socket buffers keep both sides moving); memory stays at one read per blob in flight.
READ_CHUNK = 1024 * 1024
MAX_REDIRECTS = 5  # ECR and ECR Public need one (a blob GET to S3 or CloudFront)
MAX_SMALL_BODY = 64 * 1024  # error documents, token replies, upload answers
MAX_CHALLENGE = 4096  # a WWW-Authenticate header; ECR Public's is about 100 characters
MAX_TOKEN = 16 * 1024
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

# urllib3 retries and follows nothing itself: the retry policy here decides what is retried, and
# redirects are followed by RegistryClient, each hop checked against the request policy.
_NO_RETRIES = urllib3.Retry(total=0, redirect=0, raise_on_redirect=False, raise_on_status=False)

# A challenge: one auth scheme and its auth-params (RFC 9110 section 11.2), ASCII only, matched whole.
_TCHARS = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = r'"(?:[\t\x20\x21\x23-\x5b\x5d-\x7e]|\\[\t\x20-\x7e])*"'
_PARAM = rf"{_TCHARS}[ \t]*=[ \t]*(?:{_TCHARS}|{_QUOTED})"
_CHALLENGE = re.compile(rf"(?P<scheme>{_TCHARS})(?:[ ]+(?P<params>{_PARAM}(?:[ \t]*,[ \t]*{_PARAM})*))?", re.ASCII)
_PARAM_ITEM = re.compile(rf"(?P<name>{_TCHARS})[ \t]*=[ \t]*(?P<value>{_TCHARS}|{_QUOTED})", re.ASCII)
# A bearer token goes back into an Authorization header: visible ASCII only (JWTs and ECR Public's
# tokens are base64url with dots), so a token cannot inject a header line.
_BEARER_TOKEN = re.compile(rf"[\x21-\x7e]{{1,{MAX_TOKEN}}}", re.ASCII)
_REPOSITORY = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*", re.ASCII)
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", re.ASCII)
_CONTENT_LENGTH = re.compile(r"[0-9]{1,19}", re.ASCII)
# RFC 5988 as the referrers API uses it: one link, ``<URI-Reference>; rel="next"`` (the target checked after).
_NEXT_LINK = re.compile(r'<(?P<url>[\x21-\x3b\x3d\x3f-\x7e]{1,2048})>[ \t]*;[ \t]*rel="?next"?', re.ASCII)


@dataclass(frozen=True)
class BasicCredentials:
    """User name and password for HTTP basic auth (ECR: ``AWS`` and the decoded token's password)."""

    username: str
    password: str

    @classmethod
    def from_token(cls, token: str) -> BasicCredentials:
        """From ECR's ``authorizationToken``: base64 of ``user:password``."""
        user, _, password = base64.b64decode(token).decode().partition(":")
        return cls(user, password)

    def header(self) -> str:
        return "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()

    def __repr__(self) -> str:  # never print the password
        return f"BasicCredentials(username={self.username!r})"


@dataclass(frozen=True)
class Response:
    """What :meth:`RegistryClient.request` returns: status, headers and the body, read whole but bounded."""

    status: int
    headers: HTTPHeaderDict
    data: bytes


# --- connections: only to configured origins or public addresses, cut at their deadline -----------


class AddressGuard:
    """Where connections may go: a configured origin's (host, port) to whatever its name resolves to;
    any other host only when every address its name resolves to is public (one private address and
    the name is refused, whatever else it resolves to)."""

    def __init__(self) -> None:
        self._trusted: frozenset[tuple[str, int]] = frozenset()
        self._lock = threading.Lock()

    def trust(self, origins: Iterable[tuple[str, int]]) -> None:
        with self._lock:
            self._trusted = self._trusted | {(host.lower(), port) for host, port in origins}

    def addresses(self, host: str, port: int) -> list[tuple[Any, ...]]:
        """getaddrinfo's answers to connect to, or DestinationRefusedError."""
        answers = socket.getaddrinfo(host, port, urllib3_connection.allowed_gai_family(), socket.SOCK_STREAM)
        if (host.lower(), port) in self._trusted:
            return answers
        refused = sorted({str(answer[4][0]) for answer in answers if not is_public_address(str(answer[4][0]))})
        if refused or not answers:
            raise DestinationRefusedError(
                f"refusing to connect to {host}:{port}: it resolves to {', '.join(refused) or 'nothing'}, "
                "not a public address"
            )
        return answers


# The transfer whose deadline a connection made on this thread answers to (set around each urlopen).
_in_flight = threading.local()


class _GuardedConnectionMixin:
    """Connects only where the AddressGuard allows, and lets the transfer's deadline shut the socket."""

    address_guard: AddressGuard
    sock: socket.socket | None
    _generation = 0

    def _new_conn(self) -> socket.socket:
        host, port = self._dns_host.strip("[]"), self.port  # type: ignore[attr-defined]
        try:
            answers = self.address_guard.addresses(host, port)
        except socket.gaierror as exc:
            raise NameResolutionError(host, self, exc) from exc  # type: ignore[arg-type]
        error: OSError | None = None
        for family, kind, proto, _, address in answers:
            sock = socket.socket(family, kind, proto)
            try:
                urllib3_connection._set_socket_options(sock, self.socket_options)  # type: ignore[attr-defined]
                if self.timeout is not _DEFAULT_TIMEOUT:  # type: ignore[attr-defined]
                    sock.settimeout(self.timeout)  # type: ignore[attr-defined]
                if self.source_address:  # type: ignore[attr-defined]
                    sock.bind(self.source_address)  # type: ignore[attr-defined]
                sock.connect(address)  # the checked address itself: no second lookup
                return sock
            except TimeoutError as exc:
                sock.close()
                raise ConnectTimeoutError(self, f"Connection to {host} timed out") from exc
            except OSError as exc:
                sock.close()
                error = exc
        raise NewConnectionError(self, f"Failed to establish a new connection: {error}")  # type: ignore[arg-type]

    def request(self, *args: Any, **kwargs: Any) -> None:
        self._generation += 1
        current: Watch | None = getattr(_in_flight, "watch", None)
        if current is not None:
            generation = self._generation
            current.on_expiry(lambda: self._cut(generation))
        super().request(*args, **kwargs)  # type: ignore[misc]

    def _cut(self, generation: int) -> None:
        # Only the request this watch was set for: a connection back in the pool serves someone else.
        sock = self.sock
        if sock is not None and generation == self._generation:
            with suppress(OSError):  # the socket class's own shutdown: SSLSocket's would unwrap under a reader
                socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _GuardedHTTPConnection(_GuardedConnectionMixin, HTTPConnection):
    def __init__(self, *args: Any, address_guard: AddressGuard, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.address_guard = address_guard


class _GuardedHTTPSConnection(_GuardedConnectionMixin, HTTPSConnection):
    def __init__(self, *args: Any, address_guard: AddressGuard, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.address_guard = address_guard


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class GuardedPoolManager(urllib3.PoolManager):
    """urllib3's pool manager whose connections go only where :attr:`guard` allows."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.guard = AddressGuard()
        self.pool_classes_by_scheme = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}

    def _new_pool(
        self, scheme: str, host: str, port: int, request_context: dict[str, Any] | None = None
    ) -> HTTPConnectionPool:
        context = dict(request_context if request_context is not None else self.connection_pool_kw)
        context["address_guard"] = self.guard  # reaches each connection through the pool's conn_kw
        return super()._new_pool(scheme, host, port, context)


def default_http_client(max_connections: int = 16) -> GuardedPoolManager:
    # http/1.1 with a pool per host: loopback and ECR both do well with several plain connections;
    # block=True makes callers wait for a connection rather than open more than max_connections.
    return GuardedPoolManager(
        num_pools=16,
        maxsize=max_connections,
        block=True,
        timeout=urllib3.Timeout(connect=10.0, read=120.0),
        retries=_NO_RETRIES,
    )


@contextmanager
def _transport(what: str, transfer: Watch | None = None, limit: str = "") -> Iterator[None]:
    """urllib3's transport failures (refused, reset, timeout, cut short) as TransientError naming ``what``;
    a transfer cut at its deadline as TransferTooSlowError."""
    try:
        yield
    except DestinationRefusedError as exc:  # from the AddressGuard, when connecting
        raise RegistryError(f"{what}: {exc}") from exc
    except MaxRetryError as exc:  # urllib3's wrapper when its (zero) retries run out: report the cause
        if transfer is not None and transfer.expired:
            raise TransferTooSlowError(f"{what}: {limit}") from exc
        raise TransientError(f"{what}: {exc.reason or exc}") from exc
    except (TransportError, OSError) as exc:
        if transfer is not None and transfer.expired:
            raise TransferTooSlowError(f"{what}: {limit}") from exc
        raise TransientError(f"{what}: {exc}") from exc


@contextmanager
def _answering_to(transfer: Watch) -> Iterator[None]:
    """Connections used on this thread inside the block are cut when ``transfer``'s deadline passes."""
    previous = getattr(_in_flight, "watch", None)
    _in_flight.watch = transfer
    try:
        yield
    finally:
        _in_flight.watch = previous


def parse_challenge(header: str) -> tuple[str, dict[str, str]] | None:
    """A WWW-Authenticate header's scheme (lower case) and auth-params, or None when it is not one
    well-formed challenge of at most MAX_CHALLENGE visible ASCII characters."""
    if len(header) > MAX_CHALLENGE:
        return None
    match = _CHALLENGE.fullmatch(header.strip(" \t"))
    if match is None:
        return None
    params: dict[str, str] = {}
    for item in _PARAM_ITEM.finditer(match["params"] or ""):
        value = item["value"]
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        name = item["name"].lower()
        if name in params:
            return None  # a repeated parameter is ambiguous: refuse rather than guess
        params[name] = value
    return match["scheme"].lower(), params


class RegistryClient:
    """One registry (scheme://host[:port]); thread-safe, shares one connection pool."""

    def __init__(
        self,
        base_url: str,
        *,
        credentials: BasicCredentials | None = None,
        http: GuardedPoolManager | None = None,
        retry: RetryPolicy | None = None,
        display_host: str | None = None,
        policy: RequestPolicy | None = None,
        deadline: TransferDeadline | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"registry URL {base_url!r} must be http(s)://host[:port]")
        self.base_url = f"{parts.scheme}://{parts.netloc}"
        self.host = display_host or parts.netloc
        self.credentials = credentials
        self.http = http or default_http_client()
        self.retry = retry or RetryPolicy()
        self.deadline = deadline or TransferDeadline()
        self.routes = (policy or RequestPolicy()).for_registry(self.base_url, display_host or parts.hostname)
        self.http.guard.trust((origin.host, origin.port) for origin in self.routes.configured_origins)
        self._tokens: dict[str, str] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self.http.clear()

    # --- plumbing -------------------------------------------------------------------------------

    def url(self, path: str) -> str:
        """``path`` (or a Location, relative or absolute) as an absolute URL against this registry."""
        return urljoin(self.base_url + "/", path)

    def _auth_headers(self, scope: str) -> dict[str, str]:
        token = self._tokens.get(scope)
        if token:
            return {"Authorization": f"Bearer {token}"}
        if self.credentials:
            return {"Authorization": self.credentials.header()}
        return {}

    def _destination(self, url: str, what: str, *, token_realm: bool = False) -> Destination:
        try:
            return self.routes.destination(url, token_realm=token_realm)
        except DestinationRefusedError as exc:
            raise RegistryError(f"{what}: {exc}") from exc

    def _open(
        self,
        method: str,
        url: str,
        *,
        scope: str | None,
        what: str,
        headers: dict[str, str] | None,
        content: bytes | Iterable[bytes] | None,
        transfer: Watch,
        limit: str,
        follow: bool = True,
    ) -> urllib3.BaseHTTPResponse:
        """One request, its body unread. GET and HEAD follow redirects, each hop checked against the
        policy; the registry's credentials (for ``scope``) go to its own origin only."""
        for _ in range(MAX_REDIRECTS + 1):
            destination = self._destination(url, what)
            sent = self._auth_headers(scope) if scope is not None and destination.credentials else {}
            sent.update(headers or {})
            with _transport(what, transfer, limit), _answering_to(transfer):
                response = self.http.urlopen(
                    method,
                    destination.url,
                    body=content,
                    headers=sent,
                    chunked=False,
                    redirect=False,
                    retries=_NO_RETRIES,
                    preload_content=False,
                    decode_content=False,
                )
            if not follow or response.status not in REDIRECT_STATUSES or method not in ("GET", "HEAD"):
                return response
            location = response.headers.get("location")
            _discard(response)
            if not location:
                raise RegistryError(f"{what}: HTTP {response.status} without a Location header")
            url = urljoin(destination.url, location)
        raise RegistryError(f"{what}: more than {MAX_REDIRECTS} redirects")

    def _exchange(
        self,
        method: str,
        url: str,
        *,
        scope: str,
        what: str,
        headers: dict[str, str] | None,
        content: bytes | Iterable[bytes] | None,
        transfer: Watch,
        limit: str,
    ) -> urllib3.BaseHTTPResponse:
        """:meth:`_open`, answering one auth challenge; 401 at the end and retryable statuses raise."""
        for attempt in range(2):
            response = self._open(
                method, url, scope=scope, what=what, headers=headers, content=content, transfer=transfer, limit=limit
            )
            # A streamed body cannot be sent twice; blob uploads authenticate on the POST before them.
            if response.status == 401 and attempt == 0 and not _is_stream(content):
                challenge = response.headers.get("www-authenticate", "")
                _discard(response)
                if self._authenticate(challenge, scope, what):
                    continue
            break
        if response.status == 401:
            _discard(response)
            raise RegistryError(f"{what}: {self.host} refused the credentials (HTTP 401)")
        if response.status in RETRYABLE_STATUS:
            _discard(response)
            raise_for_transient_status(response.status, response.headers, what)
        return response

    def _authenticate(self, challenge: str, scope: str, what: str) -> bool:
        """Answer a 401 challenge; False when there is nothing more to try."""
        parsed = parse_challenge(challenge)
        if parsed is None:
            raise RegistryError(f"{what}: {self.host} sent a malformed WWW-Authenticate challenge: {_shown(challenge)}")
        scheme, params = parsed
        if scheme != "bearer":
            return False  # basic auth is sent up front: a basic challenge means bad credentials
        realm = params.get("realm")
        if not realm:
            return False
        self._destination(realm, f"{what}: token realm", token_realm=True)
        query = {"service": params["service"]} if "service" in params else {}
        query["scope"] = params.get("scope") or scope
        token_url = f"{realm}{'&' if '?' in realm else '?'}{urlencode(query)}"
        token_what = f"{self.host}: token from {realm}"
        # The registry's basic credentials go to its own token endpoint or an allow-listed auth host,
        # which is what the realm has just been checked to be; the token endpoint's redirects are not followed.
        headers = {"Authorization": self.credentials.header()} if self.credentials else {}
        limit = self.deadline.describe(MAX_SMALL_BODY)
        with watch(self.deadline.seconds_for(MAX_SMALL_BODY)) as transfer:
            raw = self._open(
                "GET",
                token_url,
                scope=None,
                what=token_what,
                headers=headers,
                content=None,
                transfer=transfer,
                limit=limit,
                follow=False,
            )
            reply = _read_small(raw, token_what, transfer, limit)
        raise_for_transient_status(reply.status, reply.headers, token_what)
        if reply.status != 200:
            raise RegistryError(f"{self.host}: token endpoint {realm} answered HTTP {reply.status}")
        try:
            body = json.loads(reply.data)
        except (ValueError, RecursionError) as exc:
            raise RegistryError(f"{self.host}: token endpoint {realm} returned no JSON") from exc
        token = (body.get("token") or body.get("access_token")) if isinstance(body, dict) else None
        if not token:
            raise RegistryError(f"{self.host}: token endpoint {realm} returned no token")
        if not isinstance(token, str) or not _BEARER_TOKEN.fullmatch(token):
            raise RegistryError(f"{self.host}: token endpoint {realm} returned a token that is not visible ASCII")
        with self._lock:
            self._tokens[scope] = token
        return True

    def request(
        self,
        method: str,
        path: str,
        *,
        scope: str,
        what: str,
        headers: dict[str, str] | None = None,
        content: bytes | Iterable[bytes] | None = None,
        params: dict[str, str] | None = None,
    ) -> Response:
        """One request (answering one auth challenge), its answer read (at most MAX_SMALL_BODY bytes of it);
        retryable statuses raise TransientError. The deadline counts the body sent."""
        url = self.url(path)
        if params:
            url += ("&" if "?" in url else "?") + urlencode(params)
        size = _body_size(content, headers) + MAX_SMALL_BODY
        limit = self.deadline.describe(size)
        with watch(self.deadline.seconds_for(size)) as transfer:
            raw = self._exchange(
                method, url, scope=scope, what=what, headers=headers, content=content, transfer=transfer, limit=limit
            )
            return _read_small(raw, what, transfer, limit)

    @contextmanager
    def stream(
        self,
        path: str,
        *,
        scope: str,
        what: str,
        headers: dict[str, str] | None = None,
        size: int | None = None,
    ) -> Iterator[StreamedResponse]:
        """A streamed GET, authenticated first if the registry challenges, under the deadline of a
        ``size``-byte transfer (not given: of the Content-Length served, if at most MAX_BLOB_BYTES).
        The connection is reused only when the body was read to its end."""
        limit = self.deadline.describe(size or 0)
        with watch(self.deadline.seconds_for(size or 0)) as transfer:
            response = self._exchange(
                "GET",
                self.url(path),
                scope=scope,
                what=what,
                headers=headers,
                content=None,
                transfer=transfer,
                limit=limit,
            )
            try:
                declared = _content_length(response.headers, what)
                if size is None and declared is not None and declared <= MAX_BLOB_BYTES:
                    limit = self.deadline.describe(declared)
                    transfer.reset(self.deadline.seconds_for(declared))
                yield StreamedResponse(response, what, transfer, limit)
            finally:
                if not response.closed:
                    response.close()  # unread bytes left: this connection cannot carry another request
                response.release_conn()

    def retried(self, what: str, fn: Callable[[], T], *, on_retry: Callable[[RetryCallState], None] | None = None) -> T:
        """Run ``fn`` under the retry policy; what survives every retry is RegistryUnavailableError."""
        try:
            return self.retry.retrying(on_retry)(fn)
        except RegistryUnavailableError:
            raise
        except TransientError as exc:
            raise RegistryUnavailableError(
                f"{what}: still failing after {self.retry.attempts} attempts: {exc}"
            ) from exc

    # --- manifests ------------------------------------------------------------------------------

    def head_manifest(self, repository: str, reference: str) -> Descriptor | None:
        """The digest a tag or digest resolves to in ``repository``, or None when absent."""
        what = f"{self.host}/{_shown(repository)}:{_shown(reference)}: HEAD manifest"
        path = _manifest_path(repository, reference, what)

        def call() -> Descriptor | None:
            response = self.request("HEAD", path, scope=_pull(repository), what=what, headers={"Accept": ACCEPT})
            if response.status == 404:
                return None
            _raise_unexpected(response, what, 200)
            digest = response.headers.get("docker-content-digest")
            if digest is not None and not is_digest(digest, algorithms=("sha256", "sha512")):
                raise RegistryError(f"{what}: Docker-Content-Digest {_shown(digest)} is not a digest")
            if not is_digest(digest):
                # No digest header (some registries) or another algorithm than ours: the bytes decide.
                return self._get_manifest_once(repository, reference, what).descriptor()
            media_type = response.headers.get("content-type", "").split(";")[0]
            return Descriptor(media_type, str(digest), _content_length(response.headers, what) or 0)

        return self.retried(what, call)

    def get_manifest(self, repository: str, reference: str, *, size: int | None = None) -> Manifest:
        """A manifest's exact bytes (at most MAX_MANIFEST_BYTES); by digest, the bytes are checked against
        it, and against ``size`` when its descriptor gives one."""
        separator = "@" if is_digest(reference) else ":"
        what = f"{self.host}/{_shown(repository)}{separator}{_shown(reference)}"
        _manifest_path(repository, reference, what)
        return self.retried(
            f"{what}: GET manifest", lambda: self._get_manifest_once(repository, reference, what, size=size)
        )

    def _get_manifest_once(self, repository: str, reference: str, what: str, *, size: int | None = None) -> Manifest:
        if size is not None and size > MAX_MANIFEST_BYTES:
            raise RegistryError(f"{what}: manifest of {size} bytes is over the {MAX_MANIFEST_BYTES}-byte limit")
        with self.stream(
            _manifest_path(repository, reference, what),
            scope=_pull(repository),
            what=what,
            headers={"Accept": ACCEPT},
            size=MAX_MANIFEST_BYTES if size is None else size,
        ) as body:
            if body.status == 404:
                raise RegistryError(f"{what}: no such manifest (HTTP 404)")
            if body.status != 200:
                _raise_unexpected(body.read_small(), f"{what}: GET manifest", 200)
            data = body.read(MAX_MANIFEST_BYTES, "manifest")
            media_type = body.headers.get("content-type")
        manifest = Manifest.from_bytes(data, media_type, what)
        if is_digest(reference) and manifest.digest != reference:
            raise RegistryError(f"{what}: the registry served a manifest whose digest is {manifest.digest}")
        if size is not None and len(data) != size:
            raise RegistryError(f"{what}: manifest of {len(data)} bytes where its descriptor says {size}")
        return manifest

    def put_manifest(self, repository: str, reference: str, manifest: Manifest) -> str:
        """Push the exact bytes under a tag or digest; returns the digest the registry stored."""
        return self.push_manifest(repository, reference, manifest).digest

    # --- blobs ----------------------------------------------------------------------------------

    def blob_exists(self, repository: str, digest: str, size: int | None = None) -> bool:
        """True only when the registry confirms this exact blob: HTTP 200, its Docker-Content-Digest (when
        sent) equal to ``digest`` and, with ``size``, its Content-Length equal to it (the distribution
        spec: a HEAD's answer MUST carry both; ECR always sends the digest, oras-project/oras-go#237)."""
        what = f"{self.host}/{repository}: HEAD blob {_shown(digest)}"
        path = _blob_path(repository, digest, what)

        def call() -> bool:
            response = self.request("HEAD", path, scope=_pull(repository), what=what)
            if response.status == 404:
                return False
            _raise_unexpected(response, what, 200)
            served = response.headers.get("docker-content-digest")
            if served is not None and served != digest:
                return False  # another blob answers at that path: upload ours, and let its commit check it
            return size is None or _content_length(response.headers, what) == size

        return self.retried(what, call)

    def mount_blob(self, repository: str, digest: str, from_repository: str) -> str | None:
        """Cross-repository mount: None when mounted, else the upload session the registry opened instead."""
        what = f"{self.host}/{repository}: mount {digest} from {from_repository}"

        def call() -> str | None:
            response = self.request(
                "POST",
                f"/v2/{repository}/blobs/uploads/",
                scope=f"{_push(repository)} {_pull(from_repository)}",
                what=what,
                params={"mount": digest, "from": from_repository},
            )
            if response.status == 201:
                return None
            # ECR without its BLOB_MOUNTING account setting (or with repositories under different
            # keys) answers 202 and opens an ordinary upload session instead of mounting:
            # https://docs.aws.amazon.com/AmazonECR/latest/userguide/blob-mounting.html
            _raise_unexpected(response, what, 202)
            return self._location(response, what)

        return self.retried(what, call)

    def start_upload(self, repository: str) -> str:
        what = f"{self.host}/{repository}: start blob upload"
        response = self.request("POST", f"/v2/{repository}/blobs/uploads/", scope=_push(repository), what=what)
        _raise_unexpected(response, what, 202)
        return self._location(response, what)

    def patch_upload(self, repository: str, location: str, body: Iterable[bytes], start: int, length: int) -> str:
        """Send one chunk (streamed from ``body``); returns the session's next location (the same one
        when the registry names none).

        The spec answers 202; ECR answers 201 Created (jdx/mise#11376, openai/tart#273, dotnet's
        container tooling in dotnet/sdk-container-builds#279), so both mean the chunk was taken.
        """
        what = f"{self.host}/{repository}: upload chunk {start}-{start + length - 1}"
        response = self.request(
            "PATCH",
            location,
            scope=_push(repository),
            what=what,
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{start}-{start + length - 1}",
                "Content-Length": str(length),
            },
            content=body,
        )
        _raise_unexpected(response, what, 202, 201)
        return self._location(response, what, default=location)

    def finish_upload(
        self,
        repository: str,
        location: str,
        digest: str,
        data: bytes | Iterable[bytes] = b"",
        length: int | None = None,
    ) -> None:
        """Close the session with the digest; with ``data``, the whole blob (a monolithic upload, streamed
        when ``data`` is an iterable of ``length`` bytes in all)."""
        what = f"{self.host}/{repository}: finish upload of {digest}"
        separator = "&" if "?" in location else "?"
        size = length if length is not None else len(data) if isinstance(data, bytes | bytearray) else None
        if size is None:
            raise ValueError("a streamed blob needs its length")
        response = self.request(
            "PUT",
            f"{location}{separator}{urlencode({'digest': digest})}",
            scope=_push(repository),
            what=what,
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
            content=data,
        )
        _raise_unexpected(response, what, 201, 204)

    def cancel_upload(self, repository: str, location: str) -> None:
        """Best effort: a failed session is abandoned anyway (registries expire them)."""
        with suppress(TransportError, OSError):
            self.http.request("DELETE", self.url(location), headers=self._auth_headers(_push(repository)), timeout=5.0)

    @contextmanager
    def open_blob(
        self, repository: str, digest: str, *, chunk_size: int = READ_CHUNK, size: int | None = None
    ) -> Iterator[Iterator[bytes]]:
        """A blob's bytes as a stream of chunks (not checked here: the reader hashes them), under the
        deadline of ``size`` bytes (its descriptor's size; a served Content-Length must equal it)."""
        what = f"{self.host}/{repository}: GET blob {_shown(digest)}"
        with self.stream(_blob_path(repository, digest, what), scope=_pull(repository), what=what, size=size) as body:
            if body.status == 404:
                raise RegistryError(f"{what}: no such blob (HTTP 404)")
            if body.status != 200:
                raise RegistryError(f"{what}: HTTP {body.status}")
            declared = _content_length(body.headers, what)
            if size is not None and declared is not None and declared != size:
                raise RegistryError(f"{what}: served as {declared} bytes where its descriptor says {size}")
            yield body.chunks(chunk_size)

    def push_blob(self, repository: str, data: bytes, digest: str) -> None:
        """A small blob in one session (POST + PUT), skipped when present."""
        if self.blob_exists(repository, digest):
            return

        def call() -> None:
            location = self.start_upload(repository)
            self.finish_upload(repository, location, digest, data)

        self.retried(f"{self.host}/{repository}: push blob {digest}", call)

    def _location(self, response: Response, what: str, *, default: str | None = None) -> str:
        """The upload session's URL from a response: on this registry only (the registry's credentials
        go with every request to it), or ``default`` when the response names none."""
        location = response.headers.get("location")
        if not location:
            if default is not None:
                return default
            raise RegistryError(f"{what}: HTTP {response.status} without a Location header")
        if len(location) > _MAX_LOCATION or not _LOCATION.fullmatch(location):
            raise RegistryError(f"{what}: the registry sent an unusable upload Location")
        if location.startswith(("http://", "https://")):
            if _origin(location) != _origin(self.base_url):
                raise RegistryError(f"{what}: the registry sent an upload Location on another host")
        elif not location.startswith("/"):
            raise RegistryError(f"{what}: the registry sent an upload Location that is not an absolute path")
        return location

    # --- referrers (OCI distribution spec 1.1) ---------------------------------------------------

    def get_referrers(self, repository: str, digest: str, *, page: str | None = None) -> ReferrersPage | None:
        """One page of the referrers API's answer for ``digest``, or None when the registry answers 404.

        The distribution spec (1.1, "Listing Referrers"): a registry with the API MUST answer
        ``GET /v2/<name>/referrers/<digest>`` with 200 and an OCI image index, and MUST NOT answer 404; a
        404 is the client's sign to fall back to the referrers tag schema (Debian's docker-registry 2.8
        answers 404: it predates the API). ``page``: a next page's path, as a previous page's ``Link`` named it.
        """
        what = f"{self.host}/{_shown(repository)}: referrers of {_shown(digest)}"
        _blob_path(repository, digest, what)  # the repository and digest grammars, before any use
        first = f"/v2/{repository}/referrers/{digest}"
        if page is not None and not (page == first or page.startswith(first + "?")):
            raise RegistryError(f"{what}: next page {_shown(page)} is not a page of this list")

        def call() -> ReferrersPage | None:
            with self.stream(
                page or first,
                scope=_pull(repository),
                what=what,
                headers={"Accept": OCI_INDEX},
                size=MAX_MANIFEST_BYTES,
            ) as body:
                if body.status == 404:
                    body.read_small()
                    return None
                if body.status != 200:
                    _raise_unexpected(body.read_small(), what, 200)
                data = body.read(MAX_MANIFEST_BYTES, "referrers index")
                media_type = body.headers.get("content-type", "").split(";")[0].strip()
                link = body.headers.get("link")
            return ReferrersPage(data, media_type, self._next_referrers_page(link, first, what))

        return self.retried(what, call)

    def _next_referrers_page(self, link: str | None, first: str, what: str) -> str | None:
        """The path a ``Link: <...>; rel="next"`` header names (RFC 5988), on this registry and this list only."""
        if link is None:
            return None
        match = _NEXT_LINK.fullmatch(link.strip())
        if match is None:
            raise RegistryError(f"{what}: Link header {_shown(link)} is not one rel=next link")
        target = urlsplit(urljoin(self.base_url + first, match["url"]))
        path = target.path + (f"?{target.query}" if target.query else "")
        if f"{target.scheme}://{target.netloc}" != self.base_url or not (path == first or path.startswith(first + "?")):
            raise RegistryError(f"{what}: next page {_shown(match['url'])} is not a page of this list")
        return path

    def push_manifest(self, repository: str, reference: str, manifest: Manifest) -> PushedManifest:
        """:meth:`put_manifest`, also returning the ``OCI-Subject`` header the registry answered with.

        The distribution spec (1.1, "Pushing Manifests with Subject"): a registry with the referrers API
        MUST answer a manifest carrying a ``subject`` with ``OCI-Subject: <subject digest>``; without it,
        the client keeps the subject's referrers list under the referrers tag schema itself.
        """
        what = f"{self.host}/{repository}:{reference}: PUT manifest"
        path = _manifest_path(repository, reference, what)

        def call() -> PushedManifest:
            response = self.request(
                "PUT",
                path,
                scope=_push(repository),
                what=what,
                headers={"Content-Type": manifest.media_type},
                content=manifest.body,
            )
            _raise_unexpected(response, what, 201, 200)
            stored = response.headers.get("docker-content-digest") or manifest.digest
            if stored != manifest.digest:
                raise RegistryError(f"{what}: the registry stored {_shown(stored)}, not {manifest.digest}")
            subject = response.headers.get("oci-subject")
            if subject is not None and not is_digest(subject, algorithms=("sha256", "sha512")):
                raise RegistryError(f"{what}: OCI-Subject {_shown(subject)} is not a digest")
            return PushedManifest(stored, subject)

        return self.retried(what, call)


@dataclass(frozen=True)
class ReferrersPage:
    """One answer of the referrers API: the index's bytes as served, and the next page's path if any."""

    body: bytes
    media_type: str
    next_page: str | None


@dataclass(frozen=True)
class PushedManifest:
    """A manifest stored: its digest, and the ``OCI-Subject`` the registry answered with (None: none)."""

    digest: str
    oci_subject: str | None


@dataclass
class StreamedResponse:
    """A response whose body is read as it arrives, every read bounded and cut at the transfer's deadline."""

    response: urllib3.BaseHTTPResponse
    what: str
    transfer: Watch
    limit: str  # how the deadline reads in an error

    @property
    def status(self) -> int:
        return self.response.status

    @property
    def headers(self) -> HTTPHeaderDict:
        return self.response.headers

    def chunks(self, chunk_size: int) -> Iterator[bytes]:
        # A body cut short or reset mid-way raises here, as TransientError: the whole blob is retried.
        with _transport(self.what, self.transfer, self.limit):
            yield from self.response.stream(chunk_size, decode_content=False)
        self._check_deadline()

    def read(self, cap: int, kind: str) -> bytes:
        """The whole body, refused when it is (or says it is) over ``cap`` bytes, or is content-encoded:
        nothing asked for an encoding, and these bytes are digested as served."""
        encoding = self.headers.get("content-encoding", "identity").strip().lower()
        if encoding != "identity":
            raise RegistryError(
                f"{self.what}: {kind} sent with Content-Encoding {_shown(encoding)}, none was asked for"
            )
        declared = _content_length(self.headers, self.what)
        if declared is not None and declared > cap:
            raise RegistryError(f"{self.what}: {kind} of {declared} bytes is over the {cap}-byte limit")
        with _transport(self.what, self.transfer, self.limit):
            data = self.response.read(cap + 1, decode_content=False)
        self._check_deadline()
        if len(data) > cap:
            raise RegistryError(f"{self.what}: {kind} is over the {cap}-byte limit")
        return bytes(data)

    def read_small(self) -> Response:
        return _read_small(self.response, self.what, self.transfer, self.limit)

    def _check_deadline(self) -> None:
        # A body without a length ends cleanly when its socket is shut: the deadline tells the truth.
        if self.transfer.expired:
            raise TransferTooSlowError(f"{self.what}: {self.limit}")


def _read_small(response: urllib3.BaseHTTPResponse, what: str, transfer: Watch, limit: str) -> Response:
    """The body, of which at most MAX_SMALL_BODY bytes are kept (the rest is never read)."""
    with _transport(what, transfer, limit):
        data = response.read(MAX_SMALL_BODY + 1, decode_content=False)
    if len(data) > MAX_SMALL_BODY:
        data = data[:MAX_SMALL_BODY]
        response.close()  # unread bytes left: this connection cannot carry another request
    response.release_conn()
    if transfer.expired:
        raise TransferTooSlowError(f"{what}: {limit}")
    return Response(response.status, response.headers, bytes(data))


def _discard(response: urllib3.BaseHTTPResponse) -> None:
    """Drop a body nobody reads (a redirect's, a challenge's): read if small, else close the connection."""
    with suppress(TransportError, OSError):
        if len(response.read(MAX_SMALL_BODY + 1, decode_content=False)) > MAX_SMALL_BODY:
            response.close()
    response.release_conn()


def _manifest_path(repository: str, reference: str, what: str) -> str:
    _check_repository(repository, what)
    if not (_TAG.fullmatch(reference) or is_digest(reference)):
        raise RegistryError(f"{what}: {_shown(reference)} is neither a tag nor a sha256 digest")
    return f"/v2/{repository}/manifests/{reference}"


def _blob_path(repository: str, digest: str, what: str) -> str:
    _check_repository(repository, what)
    if not is_digest(digest):
        raise RegistryError(f"{what}: {_shown(digest)} is not a sha256 digest")
    return f"/v2/{repository}/blobs/{digest}"


def _check_repository(repository: str, what: str) -> None:
    # The distribution spec's <name> grammar: nothing else goes into a request path.
    if len(repository) > 255 or not _REPOSITORY.fullmatch(repository):
        raise RegistryError(f"{what}: {_shown(repository)} is not a repository name")


def _content_length(headers: Mapping[str, str], what: str) -> int | None:
    value = headers.get("content-length")
    if value is None:
        return None
    if not _CONTENT_LENGTH.fullmatch(value.strip()):
        raise RegistryError(f"{what}: Content-Length {_shown(value)} is not a number of bytes")
    return int(value)


def _body_size(content: bytes | Iterable[bytes] | None, headers: dict[str, str] | None) -> int:
    if isinstance(content, bytes | bytearray):
        return len(content)
    declared = {k.lower(): v for k, v in (headers or {}).items()}.get("content-length", "")
    return int(declared) if _CONTENT_LENGTH.fullmatch(declared) else 0


# An upload session's Location: printable ASCII, no spaces (a URL or an absolute path on the registry).
_LOCATION = re.compile(r"[!-~]+", re.ASCII)
_MAX_LOCATION = 4096


def _origin(url: str) -> tuple[str, str, int | None]:
    try:
        parts = urlsplit(url)
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:  # a port that is not a number
        return ("", "", None)
    return (parts.scheme, (parts.hostname or "").lower(), port)


def _pull(repository: str) -> str:
    return f"repository:{repository}:pull"


def _push(repository: str) -> str:
    return f"repository:{repository}:pull,push"


def _is_stream(content: object) -> bool:
    return content is not None and not isinstance(content, bytes | bytearray)


def _shown(value: object, length: int = 100) -> str:
    """Text from a registry, safe to put in a message: visible ASCII, at most ``length`` characters."""
    text = value if isinstance(value, str) else repr(value)
    cleaned = "".join(c if " " <= c <= "~" else "?" for c in text[:length])
    return cleaned + ("..." if len(text) > length else "")


def _raise_unexpected(response: Response, what: str, *expected: int) -> None:
    if response.status in expected:
        return
    detail = ""
    try:
        errors = json.loads(response.data).get("errors") or []
        detail = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors[:5] if isinstance(e, dict))
    except (ValueError, AttributeError, TypeError, RecursionError):
        pass
    raise RegistryError(f"{what}: HTTP {response.status}{' (' + _shown(detail, 300) + ')' if detail else ''}")
