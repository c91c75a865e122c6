"""Re-checking a stored archive against the manifest: its metadata, and its bytes re-hashed from the bucket."""

from __future__ import annotations

import hashlib

from pydantic import BaseModel, ConfigDict

from eksd_adopt.archives.errors import ArchiveChecksumError, ArchiveMissingError
from eksd_adopt.archives.store import ArchiveStore
from eksd_adopt.plan import ArchiveCopyJob

REHASH_CHUNK = 1024 * 1024


class StoredArchiveCheck(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str
    bytes: int
    sha256: str
    sha512: str
    rehashed: bool


def rehash_stored_archive(store: ArchiveStore, key: str) -> tuple[str, str]:
    """(sha256, sha512) of the object's bytes, streamed from the bucket in constant memory."""
    sha256, sha512 = hashlib.sha256(), hashlib.sha512()
    for chunk in store.iter_object(key, REHASH_CHUNK):
        sha256.update(chunk)
        sha512.update(chunk)
    return sha256.hexdigest(), sha512.hexdigest()


def verify_stored_archive(store: ArchiveStore, job: ArchiveCopyJob, *, rehash: bool = True) -> StoredArchiveCheck:
    """Check the object at ``job.target_key``: metadata digests, then (``rehash``) the bytes themselves.

    Raises :class:`ArchiveMissingError` when absent, :class:`ArchiveChecksumError` on any difference.
    """
    stored = store.head(job.target_key)
    if stored is None:
        raise ArchiveMissingError(f"{job.asset}: {job.target_key} is not in the bucket")
    meta = (stored.sha256 or "(none)", stored.sha512 or "(none)")
    if meta != (job.sha256, job.sha512):
        raise ArchiveChecksumError(
            job.asset,
            expected_sha256=job.sha256,
            actual_sha256=meta[0],
            expected_sha512=job.sha512,
            actual_sha512=meta[1],
            where=f"in the metadata of {job.target_key}",
        )
    if rehash:
        sha256, sha512 = rehash_stored_archive(store, job.target_key)
        if (sha256, sha512) != (job.sha256, job.sha512):
            raise ArchiveChecksumError(
                job.asset,
                expected_sha256=job.sha256,
                actual_sha256=sha256,
                expected_sha512=job.sha512,
                actual_sha512=sha512,
                where=f"in the stored bytes of {job.target_key}",
            )
    return StoredArchiveCheck(
        key=job.target_key, bytes=stored.size, sha256=job.sha256, sha512=job.sha512, rehashed=rehash
    )
