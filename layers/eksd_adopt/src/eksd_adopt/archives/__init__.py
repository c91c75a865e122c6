"""The archive mirror: stream EKS-D archives into the private bucket with sha256 and sha512 verified.

The names below load on first use (PEP 562 ``__getattr__``): importing one module of the package (the
bucket adapter ``eksd_adopt.archives.s3store``, as ``eksd-adopt verify`` does) runs this file, and an eager
import of the copier would bring httpx and the whole mirror with it (about 0.3 s of a CLI's start-up).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from eksd_adopt.lazy import lazy_exports

if TYPE_CHECKING:
    from eksd_adopt.archives.checksums import ChecksumFilesResult, checksum_files, write_checksum_files
    from eksd_adopt.archives.copier import ArchiveCopier, ArchiveCopyResult, check_job, copy_archives
    from eksd_adopt.archives.errors import (
        ArchiveChecksumError,
        ArchiveMissingError,
        ArchiveStoreError,
        ArchiveUnavailableError,
        InvalidArchiveJobError,
        ManifestConflictError,
    )
    from eksd_adopt.archives.manifests import StoredManifest, check_manifest, manifest_key, store_manifest
    from eksd_adopt.archives.promote import PromotionResult, promote_archive, promote_release_archives
    from eksd_adopt.archives.store import ArchiveStore, InMemoryArchiveStore, StoredObject
    from eksd_adopt.archives.verify import StoredArchiveCheck, rehash_stored_archive, verify_stored_archive

# Each public name -> the module of this package defining it.
_WHERE = {
    "ChecksumFilesResult": "checksums",
    "checksum_files": "checksums",
    "write_checksum_files": "checksums",
    "ArchiveCopier": "copier",
    "ArchiveCopyResult": "copier",
    "check_job": "copier",
    "copy_archives": "copier",
    "ArchiveChecksumError": "errors",
    "ArchiveMissingError": "errors",
    "ArchiveStoreError": "errors",
    "ArchiveUnavailableError": "errors",
    "InvalidArchiveJobError": "errors",
    "ManifestConflictError": "errors",
    "StoredManifest": "manifests",
    "check_manifest": "manifests",
    "manifest_key": "manifests",
    "store_manifest": "manifests",
    "PromotionResult": "promote",
    "promote_archive": "promote",
    "promote_release_archives": "promote",
    "ArchiveStore": "store",
    "InMemoryArchiveStore": "store",
    "StoredObject": "store",
    "StoredArchiveCheck": "verify",
    "rehash_stored_archive": "verify",
    "verify_stored_archive": "verify",
}

__all__ = [
    "ArchiveChecksumError",
    "ArchiveCopier",
    "ArchiveCopyResult",
    "ArchiveMissingError",
    "ArchiveStore",
    "ArchiveStoreError",
    "ArchiveUnavailableError",
    "ChecksumFilesResult",
    "InMemoryArchiveStore",
    "InvalidArchiveJobError",
    "ManifestConflictError",
    "PromotionResult",
    "StoredArchiveCheck",
    "StoredManifest",
    "StoredObject",
    "check_job",
    "check_manifest",
    "checksum_files",
    "copy_archives",
    "manifest_key",
    "promote_archive",
    "promote_release_archives",
    "rehash_stored_archive",
    "store_manifest",
    "verify_stored_archive",
    "write_checksum_files",
]


__getattr__, __dir__ = lazy_exports(__name__, _WHERE)
