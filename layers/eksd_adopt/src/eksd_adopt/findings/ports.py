"""What reading a release's findings needs from outside, as protocols (boto3 lives behind them).

They are structural: the workflow's ``DocumentStore`` and ``StagedArtifacts`` and its ``StagedImage``
satisfy them as they are, so this package depends on no other part of the workflow.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from eksd_adopt.findings.model import ImageScan, PlatformImage


class FindingsScanner(Protocol):
    """A registry's scan results for one platform image (ECR: ``DescribeImageScanFindings``)."""

    def read_scan(self, image: PlatformImage) -> ImageScan:
        """The scan as it stands now, every page read; IN_PROGRESS when not done yet.

        Raises :class:`~eksd_adopt.findings.errors.ScannerUnavailableError` when the read itself failed
        for now (throttled, a server error), :class:`~eksd_adopt.findings.errors.ScannerError` when it
        was refused for good.
        """
        ...


class FindingsDocuments(Protocol):
    """Where the full findings document is kept: the bucket beside the staged manifest."""

    def location(self, key: str) -> str: ...

    def put(self, key: str, body: bytes, *, write_once: bool = False, content_type: str = "application/yaml") -> str:
        """Store and return the location; write-once refuses different bytes under an existing key."""
        ...

    def get(self, location: str) -> bytes: ...


class PlatformManifest(Protocol):
    """One platform of a staged index (the workflow's ``PlatformInfo``)."""

    @property
    def os(self) -> str: ...

    @property
    def arch(self) -> str: ...

    @property
    def variant(self) -> str | None: ...

    @property
    def manifest_digest(self) -> str: ...


class ImagePlatforms(Protocol):
    """Reads a staged index's platforms back from the registry (the workflow's ``StagedArtifacts``)."""

    def image_platforms(self, repository: str, digest: str) -> Sequence[PlatformManifest]: ...


class StagedImageLike(Protocol):
    """A verified staged image (the workflow's ``StagedImage``): where it is, by digest, and its upstream source."""

    @property
    def repository(self) -> str: ...

    @property
    def digest(self) -> str: ...

    @property
    def source(self) -> str:
        """Upstream repository:tag, e.g. public.ecr.aws/eks-distro/kubernetes/pause:v1.20.4-eks-1-20-1."""
        ...
