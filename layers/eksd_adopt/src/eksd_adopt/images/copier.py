"""The image copier: a release's multi-arch images into the target registry, by digest, verified, idempotent.

One copy resolves the source tag to a digest once (the bytes of the manifest it serves), refuses a
digest other than the release manifest's ``imageDigest``, then copies every blob (config and layers
of every platform) and pushes the manifests byte for byte, children first, tagging last: a tag in
the target always names a complete image. Blobs go through one worker pool shared by every image
of a run, so the receiving registry always has several uploads in flight; a blob met twice in a
run is uploaded once and mounted into any other repository that needs it; each blob's sha256 and
size are checked while it streams (its last bytes are sent only once the whole blob has hashed
right), and nothing is ever held whole in memory.

How a blob is sent depends on the target (:class:`UploadMode`). A plain OCI registry gets the
spec's monolithic upload, the blob streamed as the body of the committing PUT: one request, and a
registry such as distribution hashes it once as it arrives (after PATCHes it reads the whole blob
back to hash it at commit, a quarter more CPU on the receiving side). ECR gets what ``docker push``
sends it: small blobs in one PUT, larger ones streamed in one PATCH, then the committing PUT. Never
more than one PATCH per session to ECR: it answers every later PATCH 201 but has been reported to
drop its body (aws/containers-roadmap#2831), so fixed-size chunks, there for registries that cap a
request's size, are refused for it.

Promotion copies an image between repositories of the target registry by cross-repository mount.
A registry that will not mount (ECR without its ``BLOB_MOUNTING`` account setting, or repositories
under different KMS keys) opens an upload session instead; the blob's bytes are then read back from
the source repository and sent into it, verified exactly as staging's were.
"""

from __future__ import annotations

import hashlib
import itertools
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from eksd_adopt.endpoints import EndpointMap, RequestPolicy
from eksd_adopt.images.client import READ_CHUNK, RegistryClient
from eksd_adopt.images.errors import (
    BlobVerificationError,
    ImageDigestMismatchError,
    RegistryError,
)
from eksd_adopt.images.media import INDEX_TYPES, Descriptor, Manifest
from eksd_adopt.images.referrers import mirror_referrers
from eksd_adopt.observability import domain_logger
from eksd_adopt.plan import ImageCopyJob
from eksd_adopt.policy import UpstreamPolicy
from eksd_adopt.reference import ImageReference, is_digest
from eksd_adopt.retry import TransientError

logger = domain_logger()
T = TypeVar("T")

MIB = 1024 * 1024
MIN_CHUNK_SIZE = 5 * MIB  # S3-backed registries refuse upload parts under 5 MiB (all but the last)
DEFAULT_MONOLITHIC_MAX: int | None = None  # every blob in its committing PUT (plain OCI registries)
ECR_MONOLITHIC_MAX = 4 * MIB  # ECR: small blobs in one PUT, the rest PATCHed (as docker push does)
# An image is a platform manifest, an index of them, or at most an index of indexes of them: nothing
# published nests deeper, and the bound (with media.MAX_INDEX_CHILDREN and each distinct manifest
# fetched once) caps the manifest requests one image can cause.
MAX_INDEX_DEPTH = 2
MAX_IMAGE_MANIFESTS = 256  # distinct manifests in one image, the root included
MAX_IMAGE_BLOBS = 4096  # distinct configs and layers in one image (EKS-D images have about a dozen)


@dataclass(frozen=True)
class UploadMode:
    """How blobs are sent to one target registry.

    ``monolithic_max``: blobs up to this size go in the committing PUT (None: every blob); larger
    ones are PATCHed, in ``chunk_size`` parts (None: the rest of the blob in one PATCH).
    ``single_patch``: the target keeps only the first PATCH of a session (ECR), so chunks are refused.
    """

    monolithic_max: int | None = DEFAULT_MONOLITHIC_MAX
    chunk_size: int | None = None
    single_patch: bool = False

    def __post_init__(self) -> None:
        if self.chunk_size is not None and self.chunk_size < MIN_CHUNK_SIZE:
            raise ValueError("chunk_size must be at least 5 MiB (ECR's and S3's smallest upload part)")
        if self.chunk_size is not None and self.single_patch:
            # ECR answers every PATCH after the first 201 while (as reported) dropping its body, so a
            # chunked upload would only fail at the committing PUT's digest check, every time.
            raise ValueError(
                "chunked uploads cannot go to ECR: it keeps only the first PATCH of an upload session"
                " (aws/containers-roadmap#2831); leave the chunk size unset"
            )

    @classmethod
    def for_target(cls, *, ecr: bool, upload: str | None = None, chunk_size: int | None = None) -> UploadMode:
        """ECR: one PATCH per blob over 4 MiB, as ``docker push`` sends it; others: the blob in its PUT.
        ``upload`` ("put" or "patch") overrides the default."""
        mode = upload or ("patch" if ecr else "put")
        return cls(
            monolithic_max=None if mode == "put" else ECR_MONOLITHIC_MAX, chunk_size=chunk_size, single_patch=ecr
        )


class ImageCopyResult(BaseModel):
    """What one image copy did; ``skipped`` means the target already had the digest under the tag."""

    model_config = ConfigDict(frozen=True)

    source: str
    digest: str
    target: str
    blobs_uploaded: int = 0
    blobs_mounted: int = 0
    blobs_skipped: int = 0
    bytes_uploaded: int = 0
    seconds: float = 0.0
    skipped: bool = False


# (source, source repository, copied root manifest, target, target repository) -> referrers copied
ReferrerMirror = Callable[[RegistryClient, str, Manifest, RegistryClient, str], int]


class RepositoryProvisioner(Protocol):
    """Creates a target repository on demand (ECR); a plain OCI registry needs nothing."""

    def ensure_repository(self, name: str) -> None: ...


class BlobOutcome(StrEnum):
    UPLOADED = "uploaded"
    MOUNTED = "mounted"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class _BlobMove:
    """One blob of one image to place in a target repository, and where its bytes may come from."""

    source: RegistryClient
    source_repository: str
    repository: str  # in the target registry
    blob: Descriptor
    image: str  # the image it belongs to, for messages
    mount_from: str | None  # promotion: the target repository to mount it from

    @property
    def what(self) -> str:
        return f"{self.image}: blob {self.blob.digest}"


@dataclass
class _BlobState:
    """A blob's fate in this run: who owns its transfer and where it ended up."""

    done: threading.Event = field(default_factory=threading.Event)
    failed: bool = False


@dataclass
class _ImageTally:
    uploaded: int = 0
    mounted: int = 0
    skipped: int = 0
    bytes: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, outcome: BlobOutcome, size: int) -> None:
        with self.lock:
            if outcome is BlobOutcome.UPLOADED:
                self.uploaded += 1
                self.bytes += size
            elif outcome is BlobOutcome.MOUNTED:
                self.mounted += 1
            else:
                self.skipped += 1


class _LargestFirstPool:
    """Blob workers taking the largest waiting blob first, whichever image it belongs to.

    Largest-first keeps the receiving registry busy to the end: a big layer picked up last would
    leave one upload running alone while every other worker idles.
    """

    def __init__(self, workers: int) -> None:
        self._queue: queue.PriorityQueue[tuple[int, int, Future[Any] | None, Callable[[], Any] | None]] = (
            queue.PriorityQueue()
        )
        self._order = itertools.count()
        self._threads = [
            threading.Thread(target=self._work, name=f"blob-{i}", daemon=True) for i in range(max(1, workers))
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, size: int, fn: Callable[[], T]) -> Future[T]:
        future: Future[T] = Future()
        self._queue.put((-size, next(self._order), future, fn))
        return future

    def _work(self) -> None:
        while True:
            _, _, future, fn = self._queue.get()
            if future is None or fn is None:
                return
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to whoever waits on the future
                future.set_exception(exc)

    def shutdown(self) -> None:
        # Sentinels sort after every real job (size 0 -> priority 0, later order), so queued work finishes first.
        for _ in self._threads:
            self._queue.put((1, next(self._order), None, None))
        for thread in self._threads:
            thread.join()


class SourceRegistries:
    """Upstream registries: allow-list checked on the upstream reference, then mapped to a base URL.

    Each client gets the one request policy (the endpoint mapping and the allow-listed auth hosts): its
    redirects and token realms are checked against it. ``client_factory(base_url, host, policy)``.
    """

    def __init__(
        self,
        policy: UpstreamPolicy | None = None,
        endpoints: EndpointMap | None = None,
        *,
        client_factory: Callable[[str, str, RequestPolicy], RegistryClient] | None = None,
    ) -> None:
        self.policy = policy or UpstreamPolicy()
        self.endpoints = endpoints or EndpointMap()
        self.requests = RequestPolicy(self.endpoints, frozenset(h.lower() for h in self.policy.registry_auth_hosts))
        self._factory = client_factory or (
            lambda base, host, requests: RegistryClient(base, display_host=host, policy=requests)
        )
        self._clients: dict[str, RegistryClient] = {}
        self._lock = threading.Lock()

    def check(self, reference: ImageReference) -> None:
        for rule in self.policy.image_registries:
            if rule.host == reference.host.lower() and any(
                reference.repository.startswith(prefix) for prefix in rule.path_prefixes
            ):
                return
        raise RegistryError(f"{reference}: registry/repository is not allow-listed by the upstream policy")

    def client(self, reference: ImageReference) -> RegistryClient:
        self.check(reference)  # before mapping: an override cannot open a host the policy refuses
        host = reference.host.lower()
        with self._lock:
            if host not in self._clients:
                self._clients[host] = self._factory(self.endpoints.base_url(host), host, self.requests)
            return self._clients[host]

    def close(self) -> None:
        for client in self._clients.values():
            client.close()


class _VerifyingReader:
    """Hashes a blob's chunks as they pass and refuses wrong bytes before the upload is committed."""

    def __init__(
        self, chunks: Iterator[bytes], descriptor: Descriptor, image: str, on_bytes: Callable[[int], None]
    ) -> None:
        self._chunks = chunks
        self._descriptor = descriptor
        self._image = image
        self._hash = hashlib.sha256()
        self._pending = b""
        self._seen = 0
        self._given = 0
        self._on_bytes = on_bytes

    def _next(self) -> bytes:
        if self._pending:
            data, self._pending = self._pending, b""
            return data
        for chunk in self._chunks:
            if chunk:
                self._hash.update(chunk)
                self._seen += len(chunk)
                if self._seen > self._descriptor.size:
                    self._fail(f"more than the {self._descriptor.size} bytes its descriptor says")
                self._on_bytes(len(chunk))
                return chunk
        return b""

    def take(self, length: int) -> Iterator[bytes]:
        """Exactly ``length`` bytes, streamed (the body of one upload request).

        The piece that completes the blob is held back until the whole blob has hashed to its
        digest: a request carrying wrong bytes is cut short and can never be committed, whatever
        the receiving registry checks.
        """
        if self._given == self._descriptor.size:  # an empty blob: no piece to hold back, check it now
            self.finish()
        left = length
        while left:
            data = self._next()
            if not data:
                self._fail(f"{self._seen} bytes, short of the {self._descriptor.size} its descriptor says")
            if len(data) > left:
                data, self._pending = data[:left], data[left:]
            left -= len(data)
            self._given += len(data)
            if self._given == self._descriptor.size:
                self.finish()
            yield data

    def read_all(self) -> bytes:
        return b"".join(self.take(self._descriptor.size))

    def finish(self) -> None:
        """After the last chunk: the stream must end here and hash to the digest."""
        if self._pending or self._next():
            self._fail(f"more than the {self._descriptor.size} bytes its descriptor says")
        actual = "sha256:" + self._hash.hexdigest()
        if actual != self._descriptor.digest:
            self._fail(f"the bytes served hash to {actual}")

    def _fail(self, detail: str) -> None:
        raise BlobVerificationError(self._image, self._descriptor.digest, detail)


class ImageCopier:
    """Copies images into one target registry. Thread-safe; one instance per run shares its blob pool."""

    def __init__(
        self,
        target: RegistryClient,
        *,
        sources: SourceRegistries | None = None,
        repositories: RepositoryProvisioner | None = None,
        blob_concurrency: int = 6,
        uploads: UploadMode | None = None,
        on_bytes: Callable[[int], None] | None = None,
        referrers: ReferrerMirror | None = mirror_referrers,
    ) -> None:
        """``uploads``: how blobs are sent to the target; ``referrers``: copies what refers to each copied
        image in its source (signatures, SBOMs)."""
        self.target = target
        self.sources = sources or SourceRegistries()
        self.repositories = repositories
        self.uploads = uploads or UploadMode()
        self.on_bytes = on_bytes or (lambda n: None)
        self.referrers = referrers
        self._pool = _LargestFirstPool(blob_concurrency)
        self._lock = threading.Lock()
        self._blobs: dict[str, _BlobState] = {}
        self._locations: dict[str, str] = {}  # digest -> a target repository known to hold it
        self._created: set[str] = set()

    def close(self) -> None:
        self._pool.shutdown()
        self.sources.close()

    def __enter__(self) -> ImageCopier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- public ---------------------------------------------------------------------------------

    def copy(self, job: ImageCopyJob) -> ImageCopyResult:
        """Copy one plan job (an upstream image with its tag) to ``target_repository:tag``."""
        reference = job.source_reference
        if not reference.tag:
            raise RegistryError(f"{job.source}: an image job needs a tag")
        if job.known_digest is not None and not is_digest(job.known_digest):
            raise RegistryError(f"{job.source}: imageDigest {job.known_digest[:100]!r} is not a sha256 digest")
        source = self.sources.client(reference)
        return self._copy(
            source,
            reference.repository,
            reference.tag,
            job.known_digest,
            job.target_repository,
            job.tag,
            image=job.source,
            mount_from_source=False,
        )

    def promote_image(self, source_repository: str, target_repository: str, digest: str, tag: str) -> ImageCopyResult:
        """Promotion: the image at ``digest`` in ``source_repository`` under ``target_repository:tag``, in the
        target registry, children by digest first and the tag last, so the tag names a whole image.

        Every blob the target lacks is mounted from ``source_repository`` (no bytes move); where the
        registry opens an upload session instead, the blob is read back and sent, verified as any
        upload is. The result counts mounted, re-sent (``blobs_uploaded``) and present blobs.
        """
        if not is_digest(digest):
            raise RegistryError(f"{self.target.host}/{source_repository}: {digest[:100]!r} is not a sha256 digest")
        return self._copy(
            self.target,
            source_repository,
            digest,
            digest,
            target_repository,
            tag,
            image=f"{self.target.host}/{source_repository}@{digest}",
            mount_from_source=True,
        )

    def copy_all(
        self,
        jobs: Sequence[ImageCopyJob],
        *,
        concurrency: int = 4,
        on_done: Callable[[ImageCopyJob, ImageCopyResult | None, Exception | None], None] | None = None,
    ) -> list[tuple[ImageCopyJob, ImageCopyResult | None, Exception | None]]:
        """Every job, ``concurrency`` images at a time (their blobs share the pool); one failure stops no other."""

        def one(job: ImageCopyJob) -> tuple[ImageCopyJob, ImageCopyResult | None, Exception | None]:
            try:
                outcome: tuple[ImageCopyJob, ImageCopyResult | None, Exception | None] = (job, self.copy(job), None)
            except (RegistryError, TransientError) as exc:
                logger.warning("image copy failed", extra={"image": job.source, "error": str(exc)})
                outcome = (job, None, exc)
            if on_done:
                on_done(*outcome)
            return outcome

        with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="image") as images:
            return list(images.map(one, jobs))

    # --- one image ------------------------------------------------------------------------------

    def _copy(
        self,
        source: RegistryClient,
        source_repository: str,
        reference: str,
        known_digest: str | None,
        target_repository: str,
        tag: str,
        *,
        image: str,
        mount_from_source: bool,
    ) -> ImageCopyResult:
        started = time.monotonic()
        target_ref = f"{self.target.host}/{target_repository}:{tag}"

        def result(digest: str, tally: _ImageTally | None = None) -> ImageCopyResult:
            skipped = tally is None
            tally = tally or _ImageTally()
            return ImageCopyResult(
                source=image,
                digest=digest,
                target=target_ref,
                blobs_uploaded=tally.uploaded,
                blobs_mounted=tally.mounted,
                blobs_skipped=tally.skipped,
                bytes_uploaded=tally.bytes,
                seconds=round(time.monotonic() - started, 3),
                skipped=skipped,
            )

        # With the digest known up front, an image already there costs one HEAD and no upstream call.
        if known_digest and self._target_has(target_repository, tag, known_digest):
            return result(known_digest)
        root = source.get_manifest(source_repository, reference)
        if known_digest and root.digest != known_digest:
            raise ImageDigestMismatchError(image, known_digest, root.digest)
        if not known_digest and self._target_has(target_repository, tag, root.digest):
            return result(root.digest)

        manifests = self._manifest_tree(source, source_repository, root, image)
        blobs: dict[str, Descriptor] = {}
        for manifest in manifests:
            if not manifest.is_index:
                for blob in manifest.blobs(f"{image}@{manifest.digest}"):
                    if blobs.setdefault(blob.digest, blob).size != blob.size:
                        raise RegistryError(f"{image}: blob {blob.digest} is listed with two different sizes")
                if len(blobs) > MAX_IMAGE_BLOBS:
                    raise RegistryError(f"{image}: more than the limit of {MAX_IMAGE_BLOBS} distinct blobs")
        self._ensure_repository(target_repository)

        tally = _ImageTally()
        mount_from = source_repository if mount_from_source else None
        moves = [
            _BlobMove(source, source_repository, target_repository, blob, image, mount_from) for blob in blobs.values()
        ]
        futures: list[Future[BlobOutcome]] = [
            self._pool.submit(move.blob.size, partial(self._ensure_blob, move)) for move in moves
        ]
        errors: list[BaseException] = []
        for blob, future in zip(blobs.values(), futures, strict=True):
            try:
                tally.add(future.result(), blob.size)
            except Exception as exc:  # every blob is waited for, then the first error raised
                errors.append(exc)
        if errors:
            raise errors[0]
        # Children by digest first, then the root under the tag: a tag only ever names a whole image.
        for manifest in manifests[:-1]:
            self.target.put_manifest(target_repository, manifest.digest, manifest)
        if self.referrers is not None:  # before the tag: a rerun skips a tagged image, referrers and all
            self.referrers(source, source_repository, root, self.target, target_repository)
        self.target.put_manifest(target_repository, tag, root)
        logger.info(
            "image copied",
            extra={
                "image": image,
                "digest": root.digest,
                "target": target_ref,
                "uploaded": tally.uploaded,
                "mounted": tally.mounted,
                "skipped": tally.skipped,
                "bytes": tally.bytes,
            },
        )
        return result(root.digest, tally)

    def _target_has(self, repository: str, tag: str, digest: str) -> bool:
        existing = self.target.head_manifest(repository, tag)
        return existing is not None and existing.digest == digest

    def _manifest_tree(self, source: RegistryClient, repository: str, root: Manifest, image: str) -> list[Manifest]:
        """Every distinct manifest under ``root`` (children before parents, root last), each checked against
        its digest and fetched once, within MAX_INDEX_DEPTH levels of index and MAX_IMAGE_MANIFESTS in all."""
        ordered: list[Manifest] = []
        seen: set[str] = {root.digest}

        def walk(manifest: Manifest, depth: int) -> None:
            if manifest.is_index:
                where = f"{image}@{manifest.digest}"
                if depth >= MAX_INDEX_DEPTH:
                    raise RegistryError(f"{where}: indexes nested deeper than the limit of {MAX_INDEX_DEPTH}")
                for child in manifest.children(where):
                    if child.digest in seen:
                        continue  # listed twice, or under two indexes: one fetch, one push
                    if len(seen) >= MAX_IMAGE_MANIFESTS:
                        raise RegistryError(f"{image}: more than the limit of {MAX_IMAGE_MANIFESTS} manifests")
                    if child.media_type in INDEX_TYPES and depth + 1 >= MAX_INDEX_DEPTH:
                        raise RegistryError(f"{where}: indexes nested deeper than the limit of {MAX_INDEX_DEPTH}")
                    seen.add(child.digest)
                    walk(source.get_manifest(repository, child.digest, size=child.size), depth + 1)
            ordered.append(manifest)

        walk(root, 0)
        return ordered

    def _ensure_repository(self, name: str) -> None:
        if self.repositories is None:
            return
        with self._lock:
            if name in self._created:
                return
        self.repositories.ensure_repository(name)
        with self._lock:
            self._created.add(name)

    # --- one blob -------------------------------------------------------------------------------

    def _ensure_blob(self, move: _BlobMove) -> BlobOutcome:
        blob, repository = move.blob, move.repository
        with self._lock:
            state = self._blobs.get(blob.digest)
            owner = state is None
            if state is None:
                state = self._blobs[blob.digest] = _BlobState()
        if not owner:
            # Another image of this run is moving the same blob (its owner is already running in
            # this pool, so waiting cannot deadlock); afterwards it is a mount, or nothing at all.
            state.done.wait()
            with self._lock:
                if not state.failed and self._locations.get(blob.digest) == repository:
                    return BlobOutcome.SKIPPED
        try:
            outcome = self._place_blob(move)
        except BaseException:
            if owner:
                state.failed = True
            raise
        finally:
            if owner:
                state.done.set()
        return outcome

    def _place_blob(self, move: _BlobMove) -> BlobOutcome:
        blob, repository = move.blob, move.repository
        # ECR does not say on a mount whether the blob was already there: HEAD first, always.
        if self.target.blob_exists(repository, blob.digest, blob.size):
            self._remember(blob.digest, repository)
            return BlobOutcome.SKIPPED
        with self._lock:
            known = self._locations.get(blob.digest)
        mount_source = move.mount_from or (known if known != repository else None)
        session: str | None = None
        if mount_source:
            session = self.target.mount_blob(repository, blob.digest, mount_source)
            if session is None:
                self._remember(blob.digest, repository)
                return BlobOutcome.MOUNTED
            # Refused (the registry opened an upload session instead): the bytes go into that session.
            logger.info(
                "mount refused, sending the blob",
                extra={"blob": blob.digest, "repository": repository, "from": mount_source},
            )
        self._upload_blob(move, session)
        self._remember(blob.digest, repository)
        return BlobOutcome.UPLOADED

    def _remember(self, digest: str, repository: str) -> None:
        with self._lock:
            self._locations[digest] = repository

    def _upload_blob(self, move: _BlobMove, session: str | None) -> None:
        """Stream one blob from the source into a session; any failure restarts in a new session."""
        what = f"{move.what} into {self.target.host}/{move.repository}"
        sessions = iter([session] if session else [])

        def attempt() -> None:
            # A failed session is never reused (ECR answers 416 to that): every retry opens a new one.
            location = next(sessions, None) or self.target.start_upload(move.repository)
            try:
                self._send_blob(move, location)
            except BaseException:
                self.target.cancel_upload(move.repository, location)
                raise

        self.target.retried(what, attempt, on_retry=lambda state: _log_retry(what, state))

    def _send_blob(self, move: _BlobMove, location: str) -> None:
        blob, repository = move.blob, move.repository
        with move.source.open_blob(
            move.source_repository, blob.digest, chunk_size=READ_CHUNK, size=blob.size
        ) as chunks:
            reader = _VerifyingReader(chunks, blob, move.image, self.on_bytes)
            uploads = self.uploads
            if uploads.monolithic_max is None or blob.size <= uploads.monolithic_max:
                # Streamed as the committing PUT's body; the reader cuts it short on wrong bytes.
                self.target.finish_upload(repository, location, blob.digest, reader.take(blob.size), blob.size)
                return
            offset = 0
            while offset < blob.size:
                if offset and uploads.single_patch:  # UploadMode refuses chunks for such a target; never a 2nd
                    raise RegistryError(f"{move.what}: a second PATCH in one session to a single-PATCH registry")
                rest = blob.size - offset
                length = rest if uploads.chunk_size is None else min(uploads.chunk_size, rest)
                location = self.target.patch_upload(repository, location, reader.take(length), offset, length)
                offset += length
            reader.finish()  # already checked before the last PATCHed bytes left; the session is committed now
            self.target.finish_upload(repository, location, blob.digest)


def _log_retry(what: str, state: object) -> None:
    outcome = getattr(state, "outcome", None)
    error = outcome.exception() if outcome is not None else None
    logger.warning("retrying blob transfer", extra={"blob": what, "error": str(error)})
