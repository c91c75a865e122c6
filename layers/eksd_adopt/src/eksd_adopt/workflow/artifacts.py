"""The staged copy as the workflow sees it: adapters from the image and archive packages to the workflow's ports."""

from __future__ import annotations

from eksd_adopt.archives import ArchiveMissingError, ArchiveStore, promote_archive, rehash_stored_archive
from eksd_adopt.archives.s3store import S3ArchiveStore, s3_client
from eksd_adopt.workflow.config import WorkflowSettings
from eksd_adopt.workflow.errors import ArtifactMissingError
from eksd_adopt.workflow.ports import PlatformInfo


class BucketArchives:
    """Archives in the mirror bucket, through the archive package's store."""

    def __init__(self, store: ArchiveStore) -> None:
        self.store = store

    def archive_checksums(self, key: str) -> tuple[str, str]:
        if self.store.head(key) is None:
            raise ArtifactMissingError(f"{key} is not in the bucket")
        try:
            return rehash_stored_archive(self.store, key)
        except ArchiveMissingError as exc:
            raise ArtifactMissingError(str(exc)) from exc

    def promote_archive(self, source_key: str, target_key: str) -> None:
        try:
            promote_archive(self.store, source_key, target_key)
        except ArchiveMissingError as exc:
            raise ArtifactMissingError(str(exc)) from exc


class StagedCopy(BucketArchives):
    """Registry images and bucket archives together: what verification, smoke tests and promotion read."""

    def __init__(self, store: ArchiveStore, registry: RegistryImages) -> None:
        super().__init__(store)
        self.registry = registry

    def image_platforms(self, repository: str, digest: str) -> list[PlatformInfo]:
        return self.registry.image_platforms(repository, digest)

    def promote_image(self, source_repository: str, target_repository: str, digest: str, tag: str) -> None:
        self.registry.promote_image(source_repository, target_repository, digest, tag)


class RegistryImages:
    """Images in the private registry, through the image package (OCI distribution API)."""

    def __init__(self, settings: WorkflowSettings) -> None:
        self.settings = settings

    def image_platforms(self, repository: str, digest: str) -> list[PlatformInfo]:
        raise NotImplementedError("waiting for eksd_adopt.oci")

    def promote_image(self, source_repository: str, target_repository: str, digest: str, tag: str) -> None:
        raise NotImplementedError("waiting for eksd_adopt.oci")


def _copy(settings: WorkflowSettings) -> StagedCopy:
    return StagedCopy(S3ArchiveStore(settings.bucket, client=s3_client()), RegistryImages(settings))


def staged_artifacts(settings: WorkflowSettings) -> StagedCopy:
    return _copy(settings)


def promoter(settings: WorkflowSettings) -> StagedCopy:
    return _copy(settings)
