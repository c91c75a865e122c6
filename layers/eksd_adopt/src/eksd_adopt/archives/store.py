"""What the archive code needs from a bucket, as a protocol; S3 and an in-memory store implement it."""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from eksd_adopt.archives.errors import ArchiveMissingError, ArchiveStoreError, ManifestConflictError

# Object metadata keys (S3 stores them as x-amz-meta-sha256 / x-amz-meta-sha512).
META_SHA256 = "sha256"
META_SHA512 = "sha512"


class StoredObject(BaseModel):
    """What a HEAD tells about an object."""

    model_config = ConfigDict(frozen=True)

    key: str
    size: int
    metadata: dict[str, str]
    etag: str = ""

    @property
    def sha256(self) -> str | None:
        return self.metadata.get(META_SHA256)

    @property
    def sha512(self) -> str | None:
        return self.metadata.get(META_SHA512)


class UploadedPart(BaseModel):
    model_config = ConfigDict(frozen=True)

    number: int
    etag: str
    checksum_sha256: str  # base64, as S3 wants it in CompleteMultipartUpload


def sha256_b64(data: bytes | bytearray | memoryview) -> str:
    """The base64 SHA-256 S3 checks a body against (``ChecksumSHA256``)."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


class ArchiveStore(Protocol):
    """A bucket seen by the archive mirror. Keys are full object keys."""

    def head(self, key: str) -> StoredObject | None: ...

    def put(self, key: str, data: bytes, *, metadata: dict[str, str], content_type: str | None = None) -> None:
        """Store a small object; the store sends its SHA-256 so the service verifies the body."""
        ...

    def put_if_absent(
        self, key: str, data: bytes, *, metadata: dict[str, str], content_type: str | None = None
    ) -> bool:
        """Store unless the key exists (atomically); False when it already existed."""
        ...

    def get(self, key: str) -> bytes | None:
        """A small object's bytes, or None when absent."""
        ...

    def iter_object(self, key: str, chunk_size: int) -> Iterator[bytes]:
        """Stream an object's bytes; raises :class:`ArchiveMissingError` when absent."""
        ...

    def start_multipart(self, key: str, *, metadata: dict[str, str]) -> str: ...

    def upload_part(self, key: str, upload_id: str, number: int, data: bytes | bytearray) -> UploadedPart: ...

    def complete_multipart(self, key: str, upload_id: str, parts: list[UploadedPart]) -> None: ...

    def abort_multipart(self, key: str, upload_id: str) -> None: ...

    def list_keys(self, prefix: str) -> list[str]: ...

    def list_multipart_uploads(self, prefix: str) -> list[str]:
        """Keys with an unfinished multipart upload (for checks that nothing was left behind)."""
        ...

    def copy(self, source_key: str, target_key: str) -> None:
        """Server-side copy, metadata included; no bytes pass through the caller."""
        ...


def put_once(store: ArchiveStore, key: str, body: bytes, *, content_type: str, what: str = "document") -> bool:
    """Store ``body`` at ``key`` unless the key exists: True when this call created it, False when the same
    bytes were already there; :class:`ManifestConflictError` when other bytes are (``what`` names them).

    The create is the store's atomic ``put_if_absent`` (S3's ``IfNoneMatch``): two writers racing with
    different bytes cannot both believe they stored theirs, as a read-then-put would let them.
    """
    if store.put_if_absent(
        key, body, metadata={META_SHA256: hashlib.sha256(body).hexdigest()}, content_type=content_type
    ):
        return True
    if not same_as_stored(store, key, body, what=what):
        # Gone again between the refused create and the read (a delete): nothing of ours is stored.
        raise ArchiveStoreError(f"{key}: refused as existing, then absent; nothing was stored")
    return False


def same_as_stored(store: ArchiveStore, key: str, body: bytes, *, what: str = "document") -> bool:
    """True when ``key`` holds exactly ``body``, False when absent; :class:`ManifestConflictError` otherwise."""
    existing = store.get(key)
    if existing is None:
        return False
    if existing != body:
        raise ManifestConflictError(
            f"{key} already holds a different {what} (stored sha256 {hashlib.sha256(existing).hexdigest()}, "
            f"new sha256 {hashlib.sha256(body).hexdigest()}); a {what} is written once"
        )
    return True


@dataclass
class _Upload:
    key: str
    metadata: dict[str, str]
    parts: dict[int, bytes] = field(default_factory=dict)


class InMemoryArchiveStore:
    """An :class:`ArchiveStore` in a dict: unit tests, and a sink for benchmarks that leave the upload out."""

    def __init__(self, *, keep_bytes: bool = True) -> None:
        self.objects: dict[str, tuple[bytes, dict[str, str]]] = {}
        self.uploads: dict[str, _Upload] = {}
        self.keep_bytes = keep_bytes  # False: parts are counted, not kept (constant memory)
        self._lock = threading.Lock()
        self._next = 0

    def head(self, key: str) -> StoredObject | None:
        with self._lock:
            found = self.objects.get(key)
        if found is None:
            return None
        return StoredObject(
            key=key,
            size=len(found[0]),
            metadata=dict(found[1]),
            etag=hashlib.md5(found[0], usedforsecurity=False).hexdigest(),
        )

    def put(self, key: str, data: bytes, *, metadata: dict[str, str], content_type: str | None = None) -> None:
        with self._lock:
            self.objects[key] = (bytes(data), dict(metadata))

    def put_if_absent(
        self, key: str, data: bytes, *, metadata: dict[str, str], content_type: str | None = None
    ) -> bool:
        with self._lock:
            if key in self.objects:
                return False
            self.objects[key] = (bytes(data), dict(metadata))
            return True

    def get(self, key: str) -> bytes | None:
        with self._lock:
            found = self.objects.get(key)
        return found[0] if found else None

    def iter_object(self, key: str, chunk_size: int) -> Iterator[bytes]:
        data = self.get(key)
        if data is None:
            raise ArchiveMissingError(f"{key}: no such object")
        for offset in range(0, len(data), chunk_size):
            yield data[offset : offset + chunk_size]

    def start_multipart(self, key: str, *, metadata: dict[str, str]) -> str:
        with self._lock:
            self._next += 1
            upload_id = f"upload-{self._next}"
            self.uploads[upload_id] = _Upload(key, dict(metadata))
        return upload_id

    def upload_part(self, key: str, upload_id: str, number: int, data: bytes | bytearray) -> UploadedPart:
        checksum = sha256_b64(data)
        with self._lock:
            self.uploads[upload_id].parts[number] = bytes(data) if self.keep_bytes else b""
        return UploadedPart(number=number, etag=f'"{number}"', checksum_sha256=checksum)

    def complete_multipart(self, key: str, upload_id: str, parts: list[UploadedPart]) -> None:
        with self._lock:
            upload = self.uploads.pop(upload_id)
            body = b"".join(upload.parts[p.number] for p in parts)
            self.objects[key] = (body, upload.metadata)

    def abort_multipart(self, key: str, upload_id: str) -> None:
        with self._lock:
            self.uploads.pop(upload_id, None)

    def list_keys(self, prefix: str) -> list[str]:
        with self._lock:
            return sorted(k for k in self.objects if k.startswith(prefix))

    def list_multipart_uploads(self, prefix: str) -> list[str]:
        with self._lock:
            return sorted(u.key for u in self.uploads.values() if u.key.startswith(prefix))

    def copy(self, source_key: str, target_key: str) -> None:
        with self._lock:
            if source_key not in self.objects:
                raise ArchiveStoreError(f"{source_key}: no such object")
            self.objects[target_key] = self.objects[source_key]
