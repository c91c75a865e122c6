"""An OCI distribution API client on httpx: auth challenges, manifests byte for byte, streamed blob uploads.

Auth covers what the mirror meets: the anonymous bearer-token challenge of ECR Public (and any
``WWW-Authenticate: Bearer realm=...`` registry), HTTP basic auth from ECR's
``GetAuthorizationToken`` (sent up front, as ECR expects) and plain HTTP without auth for loopback
registries. Requests made here do not retry on their own: the copier decides what one retried
unit is (a whole blob transfer restarts with a new upload session, because ECR answers 416 to a
retry inside a failed session); :meth:`RegistryClient.retried` wraps small calls.
"""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlencode, urljoin, urlsplit

import httpx

from eksd_adopt.oci.errors import RegistryError, RegistryUnavailableError
from eksd_adopt.oci.media import ACCEPT, Descriptor, Manifest
from eksd_adopt.retry import RetryPolicy, TransientError, raise_for_transient

T = TypeVar("T")
# Measured: 1 MiB reads starve the other socket (one thread reads then writes); 128 KiB keeps both busy.
READ_CHUNK = 128 * 1024

_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


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


def default_http_client(max_connections: int = 16) -> httpx.Client:
    # http/1.1 with a pool: loopback and ECR both do well with several plain connections.
    return httpx.Client(
        timeout=httpx.Timeout(connect=10.0, read=120.0, write=120.0, pool=600.0),
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        follow_redirects=True,  # ECR Public and ECR serve blob GETs by redirect to a CDN/S3
    )


class RegistryClient:
    """One registry (scheme://host[:port]); thread-safe, shares one connection pool."""

    def __init__(
        self,
        base_url: str,
        *,
        credentials: BasicCredentials | None = None,
        http: httpx.Client | None = None,
        retry: RetryPolicy | None = None,
        display_host: str | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"registry URL {base_url!r} must be http(s)://host[:port]")
        self.base_url = f"{parts.scheme}://{parts.netloc}"
        self.host = display_host or parts.netloc
        self.credentials = credentials
        self.http = http or default_http_client()
        self.retry = retry or RetryPolicy()
        self._tokens: dict[str, str] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self.http.close()

    # --- plumbing -------------------------------------------------------------------------------

    def url(self, path: str) -> str:
        return urljoin(self.base_url + "/", path.lstrip("/")) if not path.startswith("http") else path

    def _auth_headers(self, scope: str) -> dict[str, str]:
        token = self._tokens.get(scope)
        if token:
            return {"Authorization": f"Bearer {token}"}
        if self.credentials:
            return {"Authorization": self.credentials.header()}
        return {}

    def _authenticate(self, response: httpx.Response, scope: str) -> bool:
        """Answer a 401 challenge; False when there is nothing more to try."""
        challenge = response.headers.get("www-authenticate", "")
        scheme = challenge.split(" ", 1)[0].lower()
        if scheme != "bearer":
            return False  # basic auth is sent up front: a basic challenge means bad credentials
        params = dict(_CHALLENGE_PARAM.findall(challenge))
        realm = params.get("realm")
        if not realm:
            return False
        query = {"service": params["service"]} if "service" in params else {}
        query["scope"] = params.get("scope") or scope
        auth = (self.credentials.username, self.credentials.password) if self.credentials else None
        reply = self.http.get(realm, params=query, auth=auth)
        raise_for_transient(reply, f"{self.host}: token from {realm}")
        if reply.status_code != 200:
            raise RegistryError(f"{self.host}: token endpoint {realm} answered HTTP {reply.status_code}")
        body = reply.json()
        token = body.get("token") or body.get("access_token")
        if not token:
            raise RegistryError(f"{self.host}: token endpoint {realm} returned no token")
        with self._lock:
            self._tokens[scope] = str(token)
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
    ) -> httpx.Response:
        """One request (answering one auth challenge); retryable statuses raise TransientError."""
        for attempt in range(2):
            response = self.http.request(
                method,
                self.url(path),
                headers={**self._auth_headers(scope), **(headers or {})},
                content=content,
                params=params,
            )
            # A streamed body cannot be sent twice; blob uploads authenticate on the POST before them.
            if (
                response.status_code == 401
                and attempt == 0
                and not _is_stream(content)
                and self._authenticate(response, scope)
            ):
                continue
            break
        if response.status_code == 401:
            raise RegistryError(f"{what}: {self.host} refused the credentials (HTTP 401)")
        raise_for_transient(response, what)
        return response

    @contextmanager
    def stream(
        self, path: str, *, scope: str, what: str, headers: dict[str, str] | None = None
    ) -> Iterator[httpx.Response]:
        """A streamed GET, authenticated first if the registry challenges."""
        for attempt in range(2):
            with self.http.stream(
                "GET", self.url(path), headers={**self._auth_headers(scope), **(headers or {})}
            ) as response:
                if response.status_code == 401 and attempt == 0:
                    response.read()
                    if self._authenticate(response, scope):
                        continue
                if response.status_code == 401:
                    raise RegistryError(f"{what}: {self.host} refused the credentials (HTTP 401)")
                raise_for_transient(response, what)
                yield response
                return

    def retried(self, what: str, fn: Callable[[], T]) -> T:
        """Run a small call under the retry policy; what survives every retry is RegistryUnavailableError."""
        try:
            return self.retry.call(fn)
        except RegistryUnavailableError:
            raise
        except (TransientError, httpx.TransportError) as exc:
            raise RegistryUnavailableError(
                f"{what}: still failing after {self.retry.attempts} attempts: {exc}"
            ) from exc

    # --- manifests ------------------------------------------------------------------------------

    def head_manifest(self, repository: str, reference: str) -> Descriptor | None:
        """The digest a tag or digest resolves to in ``repository``, or None when absent."""
        what = f"{self.host}/{repository}:{reference}: HEAD manifest"

        def call() -> Descriptor | None:
            response = self.request(
                "HEAD",
                f"/v2/{repository}/manifests/{reference}",
                scope=_pull(repository),
                what=what,
                headers={"Accept": ACCEPT},
            )
            if response.status_code == 404:
                return None
            _raise_unexpected(response, what, 200)
            digest = response.headers.get("docker-content-digest")
            if not digest:
                # No digest header (some registries): the bytes decide.
                return self._get_manifest_once(repository, reference, what).descriptor()
            media_type = response.headers.get("content-type", "").split(";")[0]
            return Descriptor(media_type, digest, int(response.headers.get("content-length") or 0))

        return self.retried(what, call)

    def get_manifest(self, repository: str, reference: str) -> Manifest:
        """A manifest's exact bytes; by digest, the bytes are checked against it."""
        what = (
            f"{self.host}/{repository}@{reference}"
            if reference.startswith("sha256:")
            else f"{self.host}/{repository}:{reference}"
        )
        return self.retried(f"{what}: GET manifest", lambda: self._get_manifest_once(repository, reference, what))

    def _get_manifest_once(self, repository: str, reference: str, what: str) -> Manifest:
        response = self.request(
            "GET",
            f"/v2/{repository}/manifests/{reference}",
            scope=_pull(repository),
            what=what,
            headers={"Accept": ACCEPT},
        )
        if response.status_code == 404:
            raise RegistryError(f"{what}: no such manifest (HTTP 404)")
        _raise_unexpected(response, f"{what}: GET manifest", 200)
        manifest = Manifest.from_bytes(response.content, response.headers.get("content-type"), what)
        if reference.startswith("sha256:") and manifest.digest != reference:
            raise RegistryError(f"{what}: the registry served a manifest whose digest is {manifest.digest}")
        return manifest

    def put_manifest(self, repository: str, reference: str, manifest: Manifest) -> str:
        """Push the exact bytes under a tag or digest; returns the digest the registry stored."""
        what = f"{self.host}/{repository}:{reference}: PUT manifest"

        def call() -> str:
            response = self.request(
                "PUT",
                f"/v2/{repository}/manifests/{reference}",
                scope=_push(repository),
                what=what,
                headers={"Content-Type": manifest.media_type},
                content=manifest.body,
            )
            _raise_unexpected(response, what, 201, 200)
            stored = response.headers.get("docker-content-digest") or manifest.digest
            if stored != manifest.digest:
                raise RegistryError(f"{what}: the registry stored {stored}, not {manifest.digest}")
            return stored

        return self.retried(what, call)

    # --- blobs ----------------------------------------------------------------------------------

    def blob_exists(self, repository: str, digest: str) -> bool:
        what = f"{self.host}/{repository}: HEAD blob {digest}"

        def call() -> bool:
            response = self.request("HEAD", f"/v2/{repository}/blobs/{digest}", scope=_pull(repository), what=what)
            if response.status_code == 404:
                return False
            _raise_unexpected(response, what, 200)
            return True

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
            if response.status_code == 201:
                return None
            _raise_unexpected(response, what, 202)
            return self._location(response, what)

        return self.retried(what, call)

    def start_upload(self, repository: str) -> str:
        what = f"{self.host}/{repository}: start blob upload"
        response = self.request("POST", f"/v2/{repository}/blobs/uploads/", scope=_push(repository), what=what)
        _raise_unexpected(response, what, 202)
        return self._location(response, what)

    def patch_upload(self, repository: str, location: str, body: Iterable[bytes], start: int, length: int) -> str:
        """Send one chunk (streamed from ``body``); returns the session's next location."""
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
        _raise_unexpected(response, what, 202)
        return self._location(response, what)

    def finish_upload(self, repository: str, location: str, digest: str, data: bytes = b"") -> None:
        """Close the session with the digest (and the whole blob, for a monolithic upload)."""
        what = f"{self.host}/{repository}: finish upload of {digest}"
        separator = "&" if "?" in location else "?"
        response = self.request(
            "PUT",
            f"{location}{separator}{urlencode({'digest': digest})}",
            scope=_push(repository),
            what=what,
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(len(data))},
            content=data,
        )
        _raise_unexpected(response, what, 201, 204)

    def cancel_upload(self, repository: str, location: str) -> None:
        """Best effort: a failed session is abandoned anyway (registries expire them)."""
        with suppress(httpx.HTTPError):
            self.http.delete(self.url(location), headers=self._auth_headers(_push(repository)), timeout=5.0)

    @contextmanager
    def open_blob(self, repository: str, digest: str, *, chunk_size: int = READ_CHUNK) -> Iterator[Iterator[bytes]]:
        """A blob's bytes as a stream of chunks (not checked here: the reader hashes them)."""
        what = f"{self.host}/{repository}: GET blob {digest}"
        with self.stream(f"/v2/{repository}/blobs/{digest}", scope=_pull(repository), what=what) as response:
            if response.status_code == 404:
                raise RegistryError(f"{what}: no such blob (HTTP 404)")
            if response.status_code != 200:
                raise RegistryError(f"{what}: HTTP {response.status_code}")
            yield response.iter_bytes(chunk_size)

    def push_blob(self, repository: str, data: bytes, digest: str) -> None:
        """A small blob in one session (POST + PUT), skipped when present."""
        if self.blob_exists(repository, digest):
            return

        def call() -> None:
            location = self.start_upload(repository)
            self.finish_upload(repository, location, digest, data)

        self.retried(f"{self.host}/{repository}: push blob {digest}", call)

    def _location(self, response: httpx.Response, what: str) -> str:
        location = response.headers.get("location")
        if not location:
            raise RegistryError(f"{what}: HTTP {response.status_code} without a Location header")
        return location


def _pull(repository: str) -> str:
    return f"repository:{repository}:pull"


def _push(repository: str) -> str:
    return f"repository:{repository}:pull,push"


def _is_stream(content: object) -> bool:
    return content is not None and not isinstance(content, bytes | bytearray)


def _raise_unexpected(response: httpx.Response, what: str, *expected: int) -> None:
    if response.status_code in expected:
        return
    detail = ""
    try:
        errors = response.json().get("errors") or []
        detail = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors if isinstance(e, dict))
    except (ValueError, AttributeError, httpx.ResponseNotRead):
        pass
    raise RegistryError(f"{what}: HTTP {response.status_code}{' (' + detail + ')' if detail else ''}")
