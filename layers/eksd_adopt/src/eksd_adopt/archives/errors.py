"""Archive mirror errors; their class names are the workflow's Retry/Catch contract."""

from __future__ import annotations

from eksd_adopt.errors import EksdAdoptError


class ArchiveChecksumError(EksdAdoptError):
    """The bytes do not have the manifest's sha256/sha512: nothing was stored (or a stored copy is bad)."""

    def __init__(
        self,
        artifact: str,
        *,
        expected_sha256: str,
        actual_sha256: str,
        expected_sha512: str,
        actual_sha512: str,
        where: str = "",
    ) -> None:
        self.artifact = artifact
        self.expected_sha256, self.actual_sha256 = expected_sha256, actual_sha256
        self.expected_sha512, self.actual_sha512 = expected_sha512, actual_sha512
        wrong = [
            f"{name} expected {expected} got {actual}"
            for name, expected, actual in (
                ("sha256", expected_sha256, actual_sha256),
                ("sha512", expected_sha512, actual_sha512),
            )
            if expected != actual
        ]
        super().__init__(f"{artifact}: checksum mismatch{' ' + where if where else ''}: {'; '.join(wrong)}")


class ArchiveUnavailableError(EksdAdoptError):
    """The archive could not be fetched: a transient failure (5xx, reset, timeout) survived every retry."""


class ArchiveMissingError(EksdAdoptError):
    """A stored archive that should be in the bucket is not there."""


class ManifestConflictError(EksdAdoptError):
    """Other bytes are already stored under a write-once key (a release manifest, a findings document)."""


class ArchiveStoreError(EksdAdoptError):
    """The bucket refused an operation (access denied, no such bucket, KMS); not worth retrying as is."""


class InvalidArchiveJobError(EksdAdoptError):
    """A copy job that cannot be run as given (digest not hex, key outside the allowed prefix)."""
