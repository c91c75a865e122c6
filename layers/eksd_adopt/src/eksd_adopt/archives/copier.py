"""Streams one upstream archive into the bucket, verifying sha256 and sha512 on the way.

The bytes go from the HTTP response straight into a multipart upload, a part at a time; both
digests are computed while streaming. Nothing unverified is ever left behind: a digest mismatch
or a failure aborts the multipart upload before it is completed, so no object appears. An
interrupted download continues where it stopped (``Range``) into the same upload with the same
hash state; a server that ignores ``Range`` makes the copy start over from byte 0.
Memory stays at a few part sizes whatever the archive's size, and time is bounded besides the
per-read timeout: the whole copy, retries and resumes included, must end within an allowance plus
its size at ``min_throughput`` (:mod:`eksd_adopt.deadline`; the socket is shut when it passes), so a
CDN that trickles a byte a second is given up instead of waited on for days.
"""

from __future__ import annotations

import queue
import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict
from tenacity import RetryCallState

from eksd_adopt.archives.errors import ArchiveChecksumError, ArchiveUnavailableError, InvalidArchiveJobError
from eksd_adopt.archives.hashing import DualHasher
from eksd_adopt.archives.settings import DEFAULT_ARCHIVE_DEADLINE
from eksd_adopt.archives.store import META_SHA256, META_SHA512, ArchiveStore, UploadedPart
from eksd_adopt.deadline import TransferDeadline, Watch, watch
from eksd_adopt.endpoints import EndpointMap, check_upstream_url
from eksd_adopt.errors import FetchError, UpstreamNotFoundError
from eksd_adopt.fetch import content_length, guarded_stream
from eksd_adopt.observability import domain_logger
from eksd_adopt.plan import ArchiveCopyJob
from eksd_adopt.policy import SHA256_HEX, SHA512_HEX, https_url_problem
from eksd_adopt.retry import RetryPolicy, TransientError, raise_for_transient

logger = domain_logger()

MIB = 1024 * 1024
DEFAULT_PART_SIZE = 16 * MIB
DEFAULT_MAX_ARCHIVE_BYTES = 8 * 1024 * MIB  # the largest EKS-D archive is well under 1 GiB
READ_CHUNK = MIB
_HEX = {"sha256": SHA256_HEX, "sha512": SHA512_HEX}
_CONTENT_RANGE = re.compile(r"bytes ([0-9]{1,19})-([0-9]{1,19})/([0-9]{1,19}|\*)", re.ASCII)

ProgressCallback = Callable[[ArchiveCopyJob, int], None]  # (job, bytes just received); may go back on restart


class ArchiveCopyResult(BaseModel):
    """What copying one archive did."""

    model_config = ConfigDict(frozen=True)

    source_url: str
    target_key: str
    bytes: int
    sha256: str
    sha512: str
    skipped: bool  # already in the bucket with the same checksums
    seconds: float
    resumed: bool  # an interrupted download was continued with a Range request


class _PartUploader:
    """Uploads full parts in a background thread, so the download never waits on S3 (one part queued at most)."""

    def __init__(self, store: ArchiveStore, key: str, metadata: dict[str, str]) -> None:
        self.store = store
        self.key = key
        self.upload_id = store.start_multipart(key, metadata=metadata)
        self.parts: list[UploadedPart] = []
        self._next_number = 0
        self._queue: queue.Queue[tuple[int, bytearray] | None] = queue.Queue(maxsize=1)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"upload:{key}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                if self._error is None:  # after a failure, drain without uploading
                    self.parts.append(self.store.upload_part(self.key, self.upload_id, item[0], item[1]))
            except BaseException as exc:  # handed to the streaming thread, which raises it
                self._error = exc
            finally:
                # Drop the part now, not when the next one arrives: otherwise one more part stays alive.
                item = None
                self._queue.task_done()

    def _raise_pending(self) -> None:
        if self._error is not None:
            raise self._error

    def send(self, data: bytearray) -> None:
        self._raise_pending()
        self._next_number += 1
        self._queue.put((self._next_number, data))

    def wait(self) -> list[UploadedPart]:
        self._queue.join()
        self._raise_pending()
        return sorted(self.parts, key=lambda p: p.number)

    def restart(self) -> None:
        """Forget the parts: the next ones overwrite them from part 1 (S3 keeps the last upload of a number)."""
        self._queue.join()
        self.parts.clear()
        self._next_number = 0
        self._raise_pending()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()


class _Transfer:
    """One archive on its way: bytes received, hash state, the current part, the multipart upload."""

    def __init__(self, job: ArchiveCopyJob, store: ArchiveStore, part_size: int, max_bytes: int) -> None:
        self.job = job
        self.store = store
        self.part_size = part_size
        self.max_bytes = max_bytes
        self.received = 0
        self.size: int | None = None  # the whole archive's, once an answer has said it
        self.resumed = False
        self.hasher = DualHasher()
        self.buffer = bytearray()
        self.uploader: _PartUploader | None = None

    def write(self, chunk: bytes) -> None:
        self.received += len(chunk)
        if self.received > self.max_bytes:
            raise FetchError(f"{self.job.source_url}: archive is over the {self.max_bytes}-byte limit")
        self.hasher.update(chunk)
        self.buffer += chunk
        if len(self.buffer) >= self.part_size:
            if self.uploader is None:
                # The metadata is the manifest's digests: the upload is only completed if they match.
                self.uploader = _PartUploader(
                    self.store, self.job.target_key, {META_SHA256: self.job.sha256, META_SHA512: self.job.sha512}
                )
            self.uploader.send(self.buffer)
            self.buffer = bytearray()

    def restart(self) -> None:
        self.received = 0
        self.buffer = bytearray()
        self.hasher.reset()
        if self.uploader is not None:
            self.uploader.restart()

    def finish(self) -> tuple[str, str]:
        """Check both digests, then complete the upload (or put the small object). Returns the digests."""
        sha256, sha512 = self.hasher.hexdigests()
        if (sha256, sha512) != (self.job.sha256, self.job.sha512):
            raise ArchiveChecksumError(
                self.job.asset,
                expected_sha256=self.job.sha256,
                actual_sha256=sha256,
                expected_sha512=self.job.sha512,
                actual_sha512=sha512,
                where=f"in {self.job.source_url} ({self.received} bytes); nothing stored",
            )
        metadata = {META_SHA256: sha256, META_SHA512: sha512}
        if self.uploader is None:
            self.store.put(
                self.job.target_key, bytes(self.buffer), metadata=metadata, content_type=_content_type(self.job)
            )
        else:
            if self.buffer:
                self.uploader.send(self.buffer)
                self.buffer = bytearray()
            parts = self.uploader.wait()
            self.store.complete_multipart(self.job.target_key, self.uploader.upload_id, parts)
            self.uploader.close()
            self.uploader = None
        return sha256, sha512

    def close(self, *, abort: bool) -> None:
        self.hasher.close()
        if self.uploader is not None:
            self.uploader.close()
            if abort:
                try:
                    self.store.abort_multipart(self.job.target_key, self.uploader.upload_id)
                except Exception:  # the bucket's lifecycle rule removes what an abort could not
                    logger.exception("abort of multipart upload failed", extra={"key": self.job.target_key})
            self.uploader = None


def _content_type(job: ArchiveCopyJob) -> str:
    name = job.target_key.rsplit("/", 1)[-1]
    if name.endswith((".tar.gz", ".tgz")):
        return "application/gzip"
    if name.endswith(".tar"):
        return "application/x-tar"
    return "application/octet-stream"


def check_job(job: ArchiveCopyJob, *, allowed_hosts: Iterable[str], key_prefix: str | None = None) -> None:
    """Refuse a job before any connection: digests not lower-case hex, a URL off the allow-list, a stray key.

    The URL check is the validator's (:func:`eksd_adopt.policy.https_url_problem`), so a manifest
    that validates never has an archive refused here on shape.
    """
    for name in ("sha256", "sha512"):
        if not _HEX[name].fullmatch(getattr(job, name)):
            raise InvalidArchiveJobError(f"{job.asset}: {name} {getattr(job, name)!r} is not a lower-case hex digest")
    allowed_hosts = frozenset(allowed_hosts)
    problem = https_url_problem(job.source_url, allowed_hosts)
    if problem is not None:
        raise FetchError(f"refusing {job.source_url[:200]!r}: {problem}")
    check_upstream_url(job.source_url, allowed_hosts)
    key = job.target_key
    if not key or key.startswith("/") or key.endswith("/") or any(p in ("", ".", "..") for p in key.split("/")):
        raise InvalidArchiveJobError(f"{job.asset}: target key {key!r} is not a clean object key")
    if key_prefix is not None and not key.startswith(key_prefix.rstrip("/") + "/"):
        raise InvalidArchiveJobError(f"{job.asset}: target key {key!r} is outside the allowed prefix {key_prefix!r}")


class ArchiveCopier:
    """Copies archive jobs into an :class:`ArchiveStore`. Thread-safe: one copier serves a pool of workers."""

    def __init__(
        self,
        store: ArchiveStore,
        *,
        allowed_hosts: Iterable[str],
        endpoints: EndpointMap | None = None,
        client: httpx.Client | None = None,
        retry: RetryPolicy | None = None,
        part_size: int = DEFAULT_PART_SIZE,
        max_bytes: int = DEFAULT_MAX_ARCHIVE_BYTES,
        timeout: float = 30.0,
        key_prefix: str | None = None,
        on_progress: ProgressCallback | None = None,
        deadline: TransferDeadline = DEFAULT_ARCHIVE_DEADLINE,
    ) -> None:
        if part_size < 1:
            raise ValueError("part_size must be positive")
        self.store = store
        self.allowed_hosts = frozenset(allowed_hosts)
        self.endpoints = endpoints or EndpointMap()
        self.client = client or httpx.Client(timeout=httpx.Timeout(timeout, connect=10.0), follow_redirects=False)
        self.retry = retry or RetryPolicy(attempts=5)
        self.part_size = part_size
        self.max_bytes = max_bytes
        self.key_prefix = key_prefix
        self.on_progress = on_progress
        self.deadline = deadline

    def copy(self, job: ArchiveCopyJob) -> ArchiveCopyResult:
        """Copy one archive, or skip it when the bucket already has it with the same checksums.

        Raises :class:`ArchiveChecksumError` (nothing stored), :class:`ArchiveUnavailableError`
        (transient failures outlasted the retries), :class:`UpstreamNotFoundError` (403/404),
        :class:`FetchError` / :class:`InvalidArchiveJobError` (refused).
        """
        check_job(job, allowed_hosts=self.allowed_hosts, key_prefix=self.key_prefix)
        started = time.monotonic()
        existing = self.store.head(job.target_key)
        if existing is not None and (existing.sha256, existing.sha512) == (job.sha256, job.sha512):
            logger.info("archive already mirrored", extra={"key": job.target_key})
            return ArchiveCopyResult(
                source_url=job.source_url,
                target_key=job.target_key,
                bytes=existing.size,
                sha256=job.sha256,
                sha512=job.sha512,
                skipped=True,
                seconds=time.monotonic() - started,
                resumed=False,
            )
        if existing is not None:
            # Staging holds what the validated manifest says; a stale object there is replaced.
            logger.warning("replacing object with other checksums", extra={"key": job.target_key})
        transfer = _Transfer(job, self.store, self.part_size, self.max_bytes)
        ok = False
        try:
            self._download(job, transfer)
            sha256, sha512 = transfer.finish()
            ok = True
        finally:
            transfer.close(abort=not ok)
        return ArchiveCopyResult(
            source_url=job.source_url,
            target_key=job.target_key,
            bytes=transfer.received,
            sha256=sha256,
            sha512=sha512,
            skipped=False,
            seconds=time.monotonic() - started,
            resumed=transfer.resumed,
        )

    def _download(self, job: ArchiveCopyJob, transfer: _Transfer) -> None:
        def on_retry(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            logger.warning(
                "archive download interrupted, retrying",
                extra={"url": job.source_url, "received": transfer.received, "error": repr(exc)},
            )

        # One deadline for the whole copy: the allowance until the first answer says the size, then
        # that size's; retries, their backoff and resumes all count.
        with watch(self.deadline.seconds_for(0)) as deadline:
            try:
                for attempt in self.retry.retrying_with_progress(lambda: transfer.received, on_retry):
                    with attempt:
                        self._check_deadline(job, transfer, deadline)
                        try:
                            self._pull(job, transfer, deadline)
                        finally:
                            # Cut at the deadline, a read fails (or a body without a length ends short):
                            # that is the deadline's error, not one to retry.
                            self._check_deadline(job, transfer, deadline)
            except (TransientError, httpx.TransportError) as exc:
                raise ArchiveUnavailableError(
                    f"{job.asset} ({job.source_url}): {type(exc).__name__}: {exc} "
                    f"(gave up after retries at byte {transfer.received})"
                ) from exc

    def _check_deadline(self, job: ArchiveCopyJob, transfer: _Transfer, deadline: Watch) -> None:
        if deadline.expired:
            # ArchiveUnavailableError: not retried here (the time is up), retried by the workflow later.
            raise ArchiveUnavailableError(
                f"{job.asset} ({job.source_url}): {self.deadline.describe(transfer.size or 0)}"
                f" (gave up at byte {transfer.received})"
            )

    def _pull(self, job: ArchiveCopyJob, transfer: _Transfer, deadline: Watch) -> None:
        """One GET: from the first byte, or from where the last attempt stopped."""
        # guarded_stream asks for identity (the digests are of the file's bytes, not a re-encoding)
        # and lets the deadline shut the connection.
        headers = {}
        offset = transfer.received
        if offset:
            headers["Range"] = f"bytes={offset}-"
        url = self.endpoints.map_url(job.source_url)
        with guarded_stream(self.client, url, deadline, headers) as response:
            raise_for_transient(response, job.source_url)
            status = response.status_code
            if status in (403, 404):
                raise UpstreamNotFoundError(f"{job.source_url}: HTTP {status} (not published yet?)")
            if response.is_redirect:
                raise FetchError(f"{job.source_url}: unexpected redirect to {response.headers.get('location')!r}")
            if offset and status == 206 and _range_start(response) == offset:
                transfer.resumed = True
                logger.info("resuming archive download", extra={"url": job.source_url, "offset": offset})
            elif offset and status in (200, 206, 416):
                # The server ignored or misanswered the Range: read the whole archive again.
                logger.warning("server did not resume; starting over", extra={"url": job.source_url, "status": status})
                self._report(job, -offset)
                transfer.restart()
                if status != 200:
                    raise TransientError(f"{job.source_url}: HTTP {status} to a Range request")
            elif status != 200:
                raise FetchError(f"{job.source_url}: unexpected HTTP {status}")
            declared = content_length(response.headers, job.source_url)
            if transfer.size is None:
                transfer.size = transfer.received + declared if declared is not None else self.max_bytes
                deadline.reset(self.deadline.seconds_for(transfer.size))
            declared = declared or 0
            if transfer.received + declared > self.max_bytes:
                raise FetchError(
                    f"{job.source_url}: {transfer.received + declared} bytes is over the {self.max_bytes}-byte limit"
                )
            # iter_raw: the bytes as sent; httpx raises RemoteProtocolError if the body ends early.
            for chunk in response.iter_raw(READ_CHUNK):
                transfer.write(chunk)
                self._report(job, len(chunk))

    def _report(self, job: ArchiveCopyJob, count: int) -> None:
        if self.on_progress is not None and count:
            self.on_progress(job, count)


def _range_start(response: httpx.Response) -> int | None:
    match = _CONTENT_RANGE.fullmatch(response.headers.get("content-range", ""))
    return int(match.group(1)) if match else None


def copy_archives(
    copier: ArchiveCopier,
    jobs: Iterable[ArchiveCopyJob],
    *,
    concurrency: int = 4,
    on_done: Callable[[ArchiveCopyJob, ArchiveCopyResult | None, Exception | None], Any] | None = None,
) -> list[tuple[ArchiveCopyJob, ArchiveCopyResult | None, Exception | None]]:
    """Copy many jobs with at most ``concurrency`` at a time; every job is tried, failures are returned."""
    from concurrent.futures import ThreadPoolExecutor

    def run(job: ArchiveCopyJob) -> tuple[ArchiveCopyJob, ArchiveCopyResult | None, Exception | None]:
        try:
            outcome: tuple[ArchiveCopyJob, ArchiveCopyResult | None, Exception | None] = (job, copier.copy(job), None)
        except Exception as exc:  # reported per job; the caller decides the exit status
            outcome = (job, None, exc)
        if on_done is not None:
            on_done(*outcome)
        return outcome

    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="archive") as pool:
        return list(pool.map(run, list(jobs)))
