"""The workflow's documents in the bucket (manifests, plans, staged images, findings), by ``s3://bucket/key`` location.

One adapter for every document: it writes through the bucket's :class:`ArchiveStore` (on S3, the
only module that touches it), so a write-once document is created atomically with ``IfNoneMatch``,
exactly as the archive mirror stores a release manifest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from urllib.parse import urlsplit

from eksd_adopt.archives.store import META_SHA256, ArchiveStore, put_once
from eksd_adopt.workflow.errors import ArtifactMissingError


class BucketDocuments:
    """A :class:`~eksd_adopt.workflow.ports.DocumentStore`: writes under ``bucket`` (None: it only reads),
    reads any location through ``open_bucket`` (a location names its own bucket)."""

    def __init__(self, bucket: str | None, open_bucket: Callable[[str], ArchiveStore]) -> None:
        self.bucket = bucket
        self._open = open_bucket
        self._stores: dict[str, ArchiveStore] = {}

    def _store(self, bucket: str) -> ArchiveStore:
        if bucket not in self._stores:
            self._stores[bucket] = self._open(bucket)
        return self._stores[bucket]

    def _writable(self, key: str) -> str:
        if not self.bucket:
            raise ValueError(f"no bucket to store {key} in: this document store only reads")
        return self.bucket

    def location(self, key: str) -> str:
        return f"s3://{self._writable(key)}/{key}"

    def put(self, key: str, body: bytes, *, write_once: bool = False, content_type: str = "application/yaml") -> str:
        """Store and return the location; write-once refuses other bytes under an existing key
        (:class:`~eksd_adopt.archives.errors.ManifestConflictError`) and accepts the same bytes again."""
        store = self._store(self._writable(key))
        if write_once:
            put_once(store, key, body, content_type=content_type)
        else:
            store.put(key, body, metadata={META_SHA256: hashlib.sha256(body).hexdigest()}, content_type=content_type)
        return self.location(key)

    def get(self, location: str) -> bytes:
        parts = urlsplit(location)
        if parts.scheme != "s3" or not parts.netloc:
            raise ArtifactMissingError(f"{location} is not an s3:// location")
        body = self._store(parts.netloc).get(parts.path.lstrip("/"))
        if body is None:
            raise ArtifactMissingError(f"{location} does not exist")
        return body
