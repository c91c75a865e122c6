"""An ECR-behaving registry for the tests and the demo: a front over Debian's docker-registry that answers as ECR does.

docker-registry (distribution) follows the OCI distribution spec; Amazon ECR's registry API departs
from it in ways a client must cope with, and a client tested only against the spec would fail on
its first push to ECR. This front forwards every request to a local docker-registry (which stores
and checks the bytes) and reproduces each departure, with the public report it comes from:

- **Basic auth only**, from ``GetAuthorizationToken`` (user ``AWS``); a request without it gets
  ``401`` with ``WWW-Authenticate: Basic realm="https://<host>/",service="ecr.amazonaws.com"``
  (the header ECR sends, quoted in mayflower/docker-ls#28; ECR user guide, "Private registry
  authentication"). No bearer-token exchange exists.
- **PATCH answers 201 Created**, not the spec's 202 (jdx/mise#11376, openai/tart#273,
  dotnet/sdk-container-builds#279).
- **Only the first PATCH of an upload session is kept**: every later PATCH is answered 201 with a
  ``Range`` that no longer advances, its body dropped (aws/containers-roadmap#2831, as first
  reported; the reporter later found the bytes stored and only ``Range`` stale, which breaks a
  chunking client as surely: it resends from the stale offset and gets 416, crashappsec/chalk#682).
  A client that chunks into ECR therefore fails at the committing PUT's digest check, as here.
- **416 on a retry inside a failed session**: a PATCH that does not start where the session's
  bytes end, or any request on a session whose earlier request failed, is answered 416
  (crashappsec/chalk#682: ECR answers 416 to data resent into a session). A retry must start a
  new session.
- **No upload status**: ``GET`` on an upload session is 404 (dotnet/sdk#33019: "GET .../blobs/uploads/<id>
  ... always returns NotFound").
- **Cross-repository mounts only with the registry's BLOB_MOUNTING setting** (ECR user guide, "Blob
  mounting in Amazon ECR", https://docs.aws.amazon.com/AmazonECR/latest/userguide/blob-mounting.html):
  with :attr:`EcrFront.blob_mounting` off (ECR's default) a mount request opens an ordinary upload
  session and is answered 202, as the spec lets a registry do.
- **Immutable tags** (how the mirror creates every repository): a manifest PUT under an existing
  tag with another digest is refused with ``400 TAG_INVALID`` "The image tag '<tag>' already exists
  in the '<repository>' repository and cannot be overwritten because the tag is immutable."
  (osscontainertools/kaniko#204, aws/containers-roadmap#862; the status is distribution's for
  TAG_INVALID); the same digest again is accepted.
- **The OCI 1.1 referrers API** (ECR since June 2024: "Amazon ECR supports Open Container Initiative
  Image and Distribution specification version 1.1",
  https://aws.amazon.com/about-aws/whats-new/2024/06/amazon-ecr-oci-image-distribution-version-1-1/):
  ``GET /v2/<name>/referrers/<digest>`` answers an OCI index of the manifests whose ``subject`` is that
  digest (empty when none; filtered by ``artifactType`` with ``OCI-Filters-Applied``), and a manifest PUT
  carrying a ``subject`` is answered with ``OCI-Subject: <subject digest>`` (distribution-spec v1.1,
  "Pushing Manifests with Subject"; ECR sends it: sigstore/sigstore-js#1183). A client therefore keeps
  no referrers tag (``sha256-<hex>``), which the immutable tags above would refuse to move for a second
  referrer. docker-registry 2.8 behind has no such API (404): the front keeps the listing itself.

Not reproduced (documented elsewhere or out of reach): blob GETs redirected to S3 (see
:class:`~eksd_adopt.local.faultproxy.FaultProxy`'s ``redirect_blobs_to``), mounts refused between
repositories under different KMS keys, the 5 MiB minimum of a non-final upload part.

Every request is recorded (method, path, status, a note on what the front did), so tests can say
what the client sent.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from eksd_adopt.images.client import BasicCredentials
from eksd_adopt.local.httpserver import LoopbackHTTPServer, send_whole

# moto's GetAuthorizationToken hands out base64("AWS:<account>-auth-token") (moto/ecr/responses.py), so
# a client that logs in through the local AWS (moto, account 123456789012) presents exactly these.
LOCAL_ACCOUNT = "123456789012"
LOCAL_CREDENTIALS = BasicCredentials("AWS", f"{LOCAL_ACCOUNT}-auth-token")
ECR_SERVICE = "ecr.amazonaws.com"

_PIECE = 1024 * 1024
_MAX_MANIFEST = 4 * 1024 * 1024  # distribution's own limit on a manifest body
_MAX_BODY = 16 * 1024**3  # no blob request of a test or the demo comes near this
_HOP_HEADERS = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "host", "content-length"}
)
_MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
_REPOSITORY = r"[a-z0-9]+(?:[._/-][a-z0-9]+)*"
_UPLOADS = re.compile(rf"/v2/(?P<repository>{_REPOSITORY})/blobs/uploads/(?P<session>[0-9a-f-]{{36}})?", re.ASCII)
_MANIFEST = re.compile(
    rf"/v2/(?P<repository>{_REPOSITORY})/manifests/(?P<reference>[A-Za-z0-9_.:-]{{1,128}})", re.ASCII
)
_REFERRERS = re.compile(rf"/v2/(?P<repository>{_REPOSITORY})/referrers/(?P<digest>sha256:[0-9a-f]{{64}})", re.ASCII)
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}", re.ASCII)
_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
_CONTENT_RANGE = re.compile(r"([0-9]{1,15})-([0-9]{1,15})", re.ASCII)
_CONTENT_LENGTH = re.compile(r"[0-9]{1,15}", re.ASCII)


class _ClientGone(Exception):
    """The client's request body ended before its Content-Length: the connection is dead."""


@dataclass
class EcrRequest:
    """One request as the front saw it: ``note`` says what it did differently from the registry behind."""

    method: str
    path: str
    status: int
    note: str = ""
    session: str | None = None


@dataclass
class _Session:
    """An upload session as ECR keeps it: what the client sent, what the registry behind really holds."""

    repository: str
    backend: str  # the registry's latest location for it (path and query, its _state included)
    received: int = 0  # bytes the client has PATCHed (what ECR counts offsets by)
    kept: int = 0  # bytes forwarded to the registry: the first PATCH's only
    patches: int = 0
    failed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class _Fault:
    status: int
    times: int


class EcrFront:
    """``with EcrFront(registry.url) as ecr: ecr.url``: the registry at ``registry_url`` as ECR serves it.

    ``blob_mounting`` is the registry's ``BLOB_MOUNTING`` account setting (ECR's default: off);
    ``location_on_patch`` False answers PATCHes without a ``Location`` (the client must keep its URL);
    ``referrers_api`` False answers as a registry without the referrers API (404, no ``OCI-Subject``), to
    show what a client falling back to the tag schema meets against immutable tags.
    """

    def __init__(
        self,
        registry_url: str,
        *,
        credentials: BasicCredentials = LOCAL_CREDENTIALS,
        blob_mounting: bool = False,
        location_on_patch: bool = True,
        referrers_api: bool = True,
    ) -> None:
        parts = urlsplit(registry_url)
        if parts.scheme != "http" or not parts.hostname or not parts.port:
            raise ValueError(f"registry URL {registry_url!r} must be http://host:port")
        self.registry_url = f"http://{parts.hostname}:{parts.port}"
        self._backend_address = (parts.hostname, parts.port)
        self.credentials = credentials
        self.blob_mounting = blob_mounting
        self.location_on_patch = location_on_patch
        self.referrers_api = referrers_api
        self._sessions: dict[str, _Session] = {}
        self._requests: list[EcrRequest] = []
        self._patch_faults: list[_Fault] = []
        self._lock = threading.Lock()
        self._tags_lock = threading.Lock()  # a tag check and its PUT are one step, as ECR's are
        # (repository, subject digest) -> referrer descriptors, in push order: the referrers API's listing.
        self._referrers: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        self._server: LoopbackHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start the front first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def host(self) -> str:
        return self.url.split("://", 1)[1]

    @property
    def requests(self) -> list[EcrRequest]:
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()
            self._patch_faults.clear()

    def fail_patches(self, status: int = 500, *, times: int = 1) -> None:
        """Answer the next ``times`` PATCHes with ``status`` (after reading their bodies), failing their sessions."""
        with self._lock:
            self._patch_faults.append(_Fault(status, times))

    def start(self) -> EcrFront:
        self._server = _Server(("127.0.0.1", 0), _make_handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, name="ecr-front", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> EcrFront:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- state ----------------------------------------------------------------------------------

    def _authorized(self, header: str | None) -> bool:
        return header is not None and secrets.compare_digest(header.encode(), self.credentials.header().encode())

    def _record(self, method: str, path: str, status: int, note: str = "", session: str | None = None) -> None:
        with self._lock:
            self._requests.append(EcrRequest(method, path, status, note, session))

    def _take_patch_fault(self) -> int | None:
        with self._lock:
            for fault in self._patch_faults:
                if fault.times > 0:
                    fault.times -= 1
                    return fault.status
        return None

    def _open_session(self, session_id: str, repository: str, backend: str) -> None:
        with self._lock:
            self._sessions[session_id] = _Session(repository, backend)

    def _session(self, session_id: str) -> _Session | None:
        with self._lock:
            return self._sessions.get(session_id)

    def _close_session(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)

    def _add_referrer(self, repository: str, body: bytes, media_type: str) -> str | None:
        """Keep a pushed manifest in its subject's listing; the subject's digest, or None without one."""
        try:
            document = json.loads(body)
        except ValueError:
            return None
        subject = document.get("subject") if isinstance(document, dict) else None
        digest = subject.get("digest") if isinstance(subject, dict) else None
        if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
            return None
        entry: dict[str, Any] = {
            "mediaType": document.get("mediaType") or media_type,
            "digest": "sha256:" + hashlib.sha256(body).hexdigest(),
            "size": len(body),
        }
        # The spec: the entry's artifactType is the manifest's, else its config's media type.
        artifact_type = document.get("artifactType") or (document.get("config") or {}).get("mediaType")
        if artifact_type:
            entry["artifactType"] = artifact_type
        if isinstance(document.get("annotations"), dict) and document["annotations"]:
            entry["annotations"] = document["annotations"]
        with self._lock:
            self._referrers.setdefault((repository, digest), {})[entry["digest"]] = entry
        return digest

    def referrers(self, repository: str, subject: str, artifact_type: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            listed = list(self._referrers.get((repository, subject), {}).values())
        return [e for e in listed if artifact_type is None or e.get("artifactType") == artifact_type]


class _Server(LoopbackHTTPServer):
    request_queue_size = 64  # the copier opens many connections at once


def _error_body(code: str, message: str) -> bytes:
    return json.dumps({"errors": [{"code": code, "message": message}]}).encode()


def _make_handler(front: EcrFront) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        # --- plumbing ---------------------------------------------------------------------------

        def _length(self) -> int | None:
            value = self.headers.get("Content-Length")
            if value is None:
                return None
            if not _CONTENT_LENGTH.fullmatch(value) or int(value) > _MAX_BODY:
                raise ValueError("bad Content-Length")
            return int(value)

        def _body(self, length: int) -> Iterator[bytes]:
            left = length
            while left:
                piece = self.rfile.read(min(_PIECE, left))
                if not piece:
                    raise _ClientGone
                left -= len(piece)
                yield piece

        def _drain(self, length: int) -> None:
            for _ in self._body(length):
                pass

        def _reply(self, status: int, headers: dict[str, str] | None = None, body: bytes = b"") -> None:
            send_whole(self, status, headers, body)

        def _error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
            self._reply(status, {"Content-Type": "application/json", **(headers or {})}, _error_body(code, message))

        def _backend(
            self,
            method: str,
            target: str,
            *,
            body: Iterator[bytes] | bytes | None = None,
            length: int | None = None,
            headers: dict[str, str] | None = None,
        ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
            """Send a request to the registry behind (the client's headers, less auth and hop-by-hop ones)."""
            sent = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS | {"authorization"}}
            sent.update(headers or {})
            if length is not None:
                sent["Content-Length"] = str(length)
            connection = http.client.HTTPConnection(*front._backend_address, timeout=120)
            try:
                connection.request(method, target, body=body, headers=sent)
                return connection, connection.getresponse()
            except BaseException:
                connection.close()  # a body cut short: the registry sees it end early and fails the request
                raise

        def _pass_through(
            self,
            connection: http.client.HTTPConnection,
            response: http.client.HTTPResponse,
            extra: dict[str, str] | None = None,
        ) -> None:
            """The registry's answer to the client as it came (its own URLs made the front's), plus ``extra``."""
            try:
                self.send_response(response.status)
                for name, value in (extra or {}).items():
                    self.send_header(name, value)
                for name, value in response.getheaders():
                    if name.lower() in _HOP_HEADERS:
                        continue
                    if name.lower() == "location" and value.startswith(front.registry_url):
                        self.send_header(name, front.url + value[len(front.registry_url) :])
                    else:
                        self.send_header(name, value)
                size = response.getheader("Content-Length")
                if self.command == "HEAD" or response.status in (204, 304):
                    self.send_header("Content-Length", size or "0")
                    self.end_headers()
                    return
                if size is None:  # a body of unknown length: read it whole (only small answers are unsized)
                    data = response.read()
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                self.send_header("Content-Length", size)
                self.end_headers()
                while piece := response.read(_PIECE):
                    self.wfile.write(piece)
            finally:
                connection.close()

        def _forward(self, length: int | None, note: str = "") -> None:
            body = self._body(length) if length else None
            connection, response = self._backend(self.command, self.path, body=body, length=length)
            front._record(self.command, self.path, response.status, note)
            self._pass_through(connection, response)

        # --- routing ----------------------------------------------------------------------------

        def _handle(self) -> None:
            try:
                length = self._length()
            except ValueError:
                self.close_connection = True
                self._error(400, "UNSUPPORTED", "a request needs a Content-Length within limits")
                return
            if self.headers.get("Transfer-Encoding"):
                self.close_connection = True
                self._error(411, "UNSUPPORTED", "send a Content-Length, not a chunked body")
                return
            try:
                self._route(urlsplit(self.path).path, length)
            except _ClientGone:
                self.close_connection = True  # nothing can be answered on a connection cut mid-body
            except (ConnectionError, TimeoutError):
                self.close_connection = True

        def _route(self, path: str, length: int | None) -> None:
            if not path.startswith("/v2/"):
                self._drain(length or 0)
                self._error(404, "NOT_FOUND", "not a registry path")
                return
            if not front._authorized(self.headers.get("Authorization")):
                self._drain(length or 0)
                front._record(self.command, self.path, 401, "no or wrong basic credentials")
                # ECR's challenge: basic auth against the registry's own URL, service ecr.amazonaws.com.
                challenge = f'Basic realm="{front.url}/",service="{ECR_SERVICE}"'
                self._reply(401, {"WWW-Authenticate": challenge})
                return
            uploads = _UPLOADS.fullmatch(path)
            if uploads:
                session = uploads["session"]
                if session is None and self.command == "POST":
                    self._start_upload(uploads["repository"], length)
                    return
                if session is not None:
                    self._in_session(uploads["repository"], session, length)
                    return
            manifest = _MANIFEST.fullmatch(path)
            if manifest and self.command == "PUT":
                self._put_manifest(manifest["repository"], manifest["reference"], length)
                return
            referrers = _REFERRERS.fullmatch(path)
            if referrers and self.command in ("GET", "HEAD") and front.referrers_api:
                self._drain(length or 0)
                self._list_referrers(referrers["repository"], referrers["digest"])
                return
            self._forward(length)

        # --- uploads ----------------------------------------------------------------------------

        def _start_upload(self, repository: str, length: int | None) -> None:
            query = parse_qsl(urlsplit(self.path).query, keep_blank_values=True)
            note = ""
            if any(k == "mount" for k, _ in query) and not front.blob_mounting:
                # Without BLOB_MOUNTING, ECR ignores mount/from and opens an upload session (202).
                query = [(k, v) for k, v in query if k not in ("mount", "from")]
                note = "mount refused: blob mounting is disabled"
            target = f"/v2/{repository}/blobs/uploads/" + (f"?{urlencode(query)}" if query else "")
            body = self._body(length) if length else None
            connection, response = self._backend("POST", target, body=body, length=length)
            if response.status != 202:
                mounted = "mounted" if response.status == 201 else ""
                front._record("POST", self.path, response.status, note or mounted)
                self._pass_through(connection, response)
                return
            response.read()
            connection.close()
            backend = _local_path(response.getheader("Location") or "", front.registry_url)
            session = urlsplit(backend).path.rsplit("/", 1)[-1]
            front._open_session(session, repository, backend)
            front._record("POST", self.path, 202, note, session)
            self._reply(
                202,
                {"Location": f"/v2/{repository}/blobs/uploads/{session}", "Docker-Upload-UUID": session},
            )

        def _in_session(self, repository: str, session_id: str, length: int | None) -> None:
            session = front._session(session_id)
            if session is None or session.repository != repository:
                self._drain(length or 0)
                front._record(self.command, self.path, 404, "unknown upload session", session_id)
                self._error(404, "BLOB_UPLOAD_UNKNOWN", "upload session not found")
                return
            if self.command == "GET":  # ECR keeps no readable upload status
                front._record("GET", self.path, 404, "no upload status on ECR", session_id)
                self._error(404, "BLOB_UPLOAD_UNKNOWN", "upload status is not available")
                return
            if self.command == "DELETE":
                connection, response = self._backend("DELETE", session.backend)
                front._close_session(session_id)
                front._record("DELETE", self.path, response.status, "", session_id)
                self._pass_through(connection, response)
                return
            with session.lock:
                if session.failed:
                    self._drain(length or 0)
                    front._record(self.command, self.path, 416, "retry in a failed session", session_id)
                    self._error(416, "BLOB_UPLOAD_INVALID", "the upload session failed earlier; start a new one")
                    return
                if self.command == "PATCH":
                    self._patch(session, session_id, length)
                elif self.command == "PUT":
                    self._finish(session, session_id, length)
                else:
                    self._drain(length or 0)
                    self._error(405, "UNSUPPORTED", f"{self.command} on an upload session")

        def _patch(self, session: _Session, session_id: str, length: int | None) -> None:
            if length is None:
                self._error(411, "UNSUPPORTED", "a PATCH needs its Content-Length")
                return
            content_range = self.headers.get("Content-Range")
            if content_range is not None:
                match = _CONTENT_RANGE.fullmatch(content_range)
                start, end = (int(match[1]), int(match[2])) if match else (-1, -2)
                if start != session.received or end - start + 1 != length:
                    # Resuming where ECR's bytes do not end (e.g. from a stale Range): 416, and the session is dead.
                    session.failed = True
                    self._drain(length)
                    front._record("PATCH", self.path, 416, f"Content-Range {content_range}", session_id)
                    self._error(416, "BLOB_UPLOAD_INVALID", "the chunk does not start where the upload ends")
                    return
            fault = front._take_patch_fault()
            if fault is not None:
                session.failed = True
                self._drain(length)
                front._record("PATCH", self.path, fault, "injected fault", session_id)
                self._error(fault, "UNKNOWN", "injected fault")
                return
            if session.patches:
                # ECR (aws/containers-roadmap#2831): answered 201, Range not advanced, the body dropped.
                try:
                    self._drain(length)
                except _ClientGone:
                    session.failed = True
                    raise
                session.received += length
                session.patches += 1
                front._record("PATCH", self.path, 201, "body dropped: not the session's first PATCH", session_id)
                self._reply(201, self._session_headers(session, session_id))
                return
            try:
                connection, response = self._backend(
                    "PATCH", session.backend, body=self._body(length) if length else None, length=length
                )
            except _ClientGone:
                session.failed = True
                front._record("PATCH", self.path, 0, "body cut short", session_id)
                raise
            if response.status != 202:
                session.failed = True
                front._record("PATCH", self.path, response.status, "", session_id)
                self._pass_through(connection, response)
                return
            response.read()
            connection.close()
            session.backend = _local_path(response.getheader("Location") or session.backend, front.registry_url)
            session.received = session.kept = length
            session.patches = 1
            front._record("PATCH", self.path, 201, "", session_id)
            self._reply(201, self._session_headers(session, session_id))

        def _session_headers(self, session: _Session, session_id: str) -> dict[str, str]:
            headers = {"Range": f"0-{max(session.kept - 1, 0)}", "Docker-Upload-UUID": session_id}
            if front.location_on_patch:
                headers["Location"] = f"/v2/{session.repository}/blobs/uploads/{session_id}"
            return headers

        def _finish(self, session: _Session, session_id: str, length: int | None) -> None:
            digest = dict(parse_qsl(urlsplit(self.path).query)).get("digest", "")
            separator = "&" if "?" in session.backend else "?"
            target = f"{session.backend}{separator}{urlencode({'digest': digest})}"
            try:
                connection, response = self._backend(
                    "PUT", target, body=self._body(length) if length else None, length=length or 0
                )
            except _ClientGone:
                session.failed = True
                front._record("PUT", self.path, 0, "body cut short", session_id)
                raise
            if response.status in (201, 204):
                front._close_session(session_id)
            else:
                session.failed = True
            front._record("PUT", self.path, response.status, "", session_id)
            self._pass_through(connection, response)

        # --- manifests --------------------------------------------------------------------------

        def _put_manifest(self, repository: str, reference: str, length: int | None) -> None:
            if length is None or length > _MAX_MANIFEST:
                self.close_connection = True
                self._error(400, "MANIFEST_INVALID", "a manifest needs a Content-Length of at most 4 MiB")
                return
            body = b"".join(self._body(length))
            if reference.startswith("sha256:"):
                connection, response = self._backend("PUT", self.path, body=body, length=length)
                front._record("PUT", self.path, response.status)
                self._pass_through(connection, response, self._subject_header(repository, body, response.status))
                return
            self._put_tag(repository, reference, body)

        def _subject_header(self, repository: str, body: bytes, status: int) -> dict[str, str]:
            """``OCI-Subject`` for a stored manifest with a subject (which the listing now names)."""
            if status != 201 or not front.referrers_api:
                return {}
            subject = front._add_referrer(repository, body, self.headers.get("Content-Type") or "")
            return {"OCI-Subject": subject} if subject else {}

        def _list_referrers(self, repository: str, subject: str) -> None:
            wanted = dict(parse_qsl(urlsplit(self.path).query)).get("artifactType")
            index = {
                "schemaVersion": 2,
                "mediaType": _OCI_INDEX,
                "manifests": front.referrers(repository, subject, wanted),
            }
            headers = {"Content-Type": _OCI_INDEX, **({"OCI-Filters-Applied": "artifactType"} if wanted else {})}
            front._record(self.command, self.path, 200, "referrers API")
            self._reply(200, headers, json.dumps(index).encode())

        def _put_tag(self, repository: str, tag: str, body: bytes) -> None:
            length = len(body)
            digest = "sha256:" + hashlib.sha256(body).hexdigest()
            with front._tags_lock:
                connection, response = self._backend(
                    "HEAD", f"/v2/{repository}/manifests/{tag}", headers={"Accept": _MANIFEST_TYPES}
                )
                response.read()
                connection.close()
                existing = response.getheader("Docker-Content-Digest") if response.status == 200 else None
                if existing is not None and existing != digest:
                    # ECR, repository with imageTagMutability IMMUTABLE (osscontainertools/kaniko#204).
                    front._record("PUT", self.path, 400, f"tag is immutable: holds {existing}")
                    self._error(
                        400,
                        "TAG_INVALID",
                        f"The image tag '{tag}' already exists in the '{repository}' repository and cannot be"
                        " overwritten because the tag is immutable.",
                    )
                    return
                connection, response = self._backend("PUT", self.path, body=body, length=length)
                front._record("PUT", self.path, response.status, "same digest" if existing else "")
                self._pass_through(connection, response, self._subject_header(repository, body, response.status))

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    return Handler


def _local_path(location: str, registry_url: str) -> str:
    """The registry's Location as a path and query on it (distribution answers with absolute URLs)."""
    if location.startswith(registry_url):
        location = location[len(registry_url) :]
    if not location.startswith("/"):
        raise ValueError(f"the registry behind answered an unusable Location {location!r}")
    return location
