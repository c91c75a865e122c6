"""What the adoption record needs from outside, as protocols: the bucket, the stage pointers, the registry.

The signer is :class:`eksd_adopt.attestation.dsse.Signer`. Adapters: the bucket is
:class:`eksd_adopt.archives.s3store.S3ArchiveStore` (or the in-memory store), the pointers and KMS are in
:mod:`eksd_adopt.attestation.aws` and :mod:`eksd_adopt.attestation.kms`, the registry in
:mod:`eksd_adopt.attestation.registry`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from eksd_adopt.archives.store import StoredObject
from eksd_adopt.images.media import Descriptor, Manifest


class RecordBucket(Protocol):
    """The artifacts bucket: records, the public key, the promoted archives and manifests."""

    def head(self, key: str) -> StoredObject | None: ...

    def get(self, key: str) -> bytes | None: ...

    def put_if_absent(
        self, key: str, data: bytes, *, metadata: dict[str, str], content_type: str | None = None
    ) -> bool:
        """Store unless the key exists, atomically (S3 ``IfNoneMatch: *``); False when it existed."""
        ...

    def list_keys(self, prefix: str) -> list[str]: ...

    def iter_object(self, key: str, chunk_size: int) -> Iterator[bytes]: ...


class StagePointer(BaseModel):
    """The part of a stage's pointer (SSM ``/eksd-adopt/<stage>/<channel>``) verification reads."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    release_id: str
    manifest_location: str


class StagePointers(Protocol):
    def current(self, stage: str, channel: str) -> StagePointer | None: ...


class ManifestDigests(Protocol):
    """The private registry, read: which digest a tag or digest resolves to."""

    @property
    def host(self) -> str:
        """The registry's host (and port), as image names in a record spell it."""
        ...

    def manifest_digest(self, repository: str, reference: str) -> str | None:
        """The digest the registry serves for ``reference`` (None when absent)."""
        ...


class ReferrerTarget(Protocol):
    """The private registry, written: attach an artifact to an image index as an OCI referrer."""

    def subject(self, repository: str, digest: str) -> Descriptor:
        """The index's descriptor (media type, digest, size), read from the registry."""
        ...

    def attach(self, repository: str, manifest: Manifest, blobs: dict[str, bytes], subject: Descriptor) -> str:
        """Push ``blobs`` and ``manifest`` (whose ``subject`` is ``subject``); returns how it was listed."""
        ...
