"""Errors of the image mirror: the names are the workflow's Retry/Catch contract."""

from __future__ import annotations

from eksd_adopt.errors import EksdAdoptError
from eksd_adopt.retry import TransientError


class RegistryError(EksdAdoptError):
    """A registry refused or broke a request in a way retrying will not fix (auth, 4xx, bad manifest)."""


class ImageDigestMismatchError(RegistryError):
    """Upstream serves another digest for a tag than the release manifest's ``imageDigest``."""

    def __init__(self, image: str, expected: str, actual: str) -> None:
        super().__init__(f"{image}: upstream digest {actual} differs from the manifest's imageDigest {expected}")
        self.image = image
        self.expected = expected
        self.actual = actual


class BlobVerificationError(RegistryError):
    """A blob's bytes do not hash to its digest (or have the wrong size): the image is never tagged."""

    def __init__(self, image: str, digest: str, detail: str) -> None:
        super().__init__(f"{image}: blob {digest} failed verification: {detail}")
        self.image = image
        self.digest = digest


class RegistryUnavailableError(RegistryError, TransientError):
    """A registry kept failing transiently (408/429/5xx, resets) after every retry; worth retrying later."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        RegistryError.__init__(self, message)
        self.retry_after = retry_after
