"""The archive mirror: stream EKS-D archives into the private bucket with sha256 and sha512 verified."""

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
