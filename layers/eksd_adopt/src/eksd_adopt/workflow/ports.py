"""What the workflow's use cases need from the outside world, as protocols (boto3 and registries live behind them)."""

from __future__ import annotations

from typing import NamedTuple, Protocol

from pydantic import BaseModel, ConfigDict

from eksd_adopt.plan import ArchiveCopyJob
from eksd_adopt.workflow.models import StagePointer


class PlatformInfo(BaseModel):
    """One platform manifest of a staged image index, with what its config blob says."""

    model_config = ConfigDict(frozen=True)

    os: str
    arch: str
    variant: str | None = None
    manifest_digest: str
    config_os: str | None = None
    config_arch: str | None = None


class StagedArtifacts(Protocol):
    """Reads the staged copy back: images from the private registry, archives from the bucket."""

    def image_platforms(self, repository: str, digest: str) -> list[PlatformInfo]:
        """The index's platforms; raises :class:`ArtifactMissingError` when the index or a platform is absent."""
        ...

    def image_digest(self, repository: str, tag: str) -> str | None:
        """The digest ``tag`` names in ``repository`` (None when untagged): what the mirror staged there."""
        ...

    def archive_checksums(self, key: str) -> tuple[str, str]:
        """(sha256, sha512) of the stored object, re-hashed from its bytes."""
        ...

    def write_checksum_files(self, jobs: list[ArchiveCopyJob]) -> None:
        """Upstream's ``<file>.sha256``/``.sha512`` and ``SHA256SUM``/``SHA512SUM`` beside these archives."""
        ...


class BlobsPlaced(NamedTuple):
    """What promoting one image did with its blobs: mounted from staging, found already in the stage, or
    sent again because the registry would not mount them (ECR without BLOB_MOUNTING), with those bytes."""

    mounted: int = 0
    skipped: int = 0
    resent: int = 0
    bytes_resent: int = 0


class ArtifactPromoter(Protocol):
    """Copies by digest from staging into a stage, never re-sending bytes that are present."""

    def promote_image(self, source_repository: str, target_repository: str, digest: str, tag: str) -> BlobsPlaced: ...

    def promote_archive(self, source_key: str, target_key: str) -> None: ...

    def write_checksum_files(self, jobs: list[ArchiveCopyJob]) -> None: ...


class DocumentStore(Protocol):
    """Manifests and the workflow's own documents in the bucket, addressed by ``s3://bucket/key`` locations."""

    def location(self, key: str) -> str: ...

    def put(self, key: str, body: bytes, *, write_once: bool = False, content_type: str = "application/yaml") -> str:
        """Store and return the location; write-once refuses different bytes under an existing key."""
        ...

    def get(self, location: str) -> bytes: ...


class ReleasePointers(Protocol):
    """The per stage and channel pointer consumers read (SSM ``/eksd-adopt/<stage>/<channel>``)."""

    def get(self, stage: str, channel: str) -> StagePointer | None: ...

    def put(self, stage: str, pointer: StagePointer) -> None: ...
