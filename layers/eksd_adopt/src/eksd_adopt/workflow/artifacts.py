"""The staged copy as the workflow sees it: adapters from the image and archive packages to the workflow's ports."""

from __future__ import annotations

from eksd_adopt.archives import (
    ArchiveMissingError,
    ArchiveStore,
    promote_archive,
    rehash_stored_archive,
    write_checksum_files,
)
from eksd_adopt.archives.s3store import S3ArchiveStore, s3_client
from eksd_adopt.images.copier import ImageCopier
from eksd_adopt.images.errors import RegistryError
from eksd_adopt.images.inspect import inspect_image
from eksd_adopt.images.registry import TargetRegistry, connect_target
from eksd_adopt.plan import ArchiveCopyJob
from eksd_adopt.workflow.config import StagedArtifactsSettings
from eksd_adopt.workflow.errors import ArtifactMissingError
from eksd_adopt.workflow.ports import BlobsPlaced, PlatformInfo


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

    def write_checksum_files(self, jobs: list[ArchiveCopyJob]) -> None:
        # Tools that expect the EKS-D layout read these beside the archives, in staging as in each stage.
        write_checksum_files(self.store, jobs)


class StagedCopy(BucketArchives):
    """Registry images and bucket archives together: what verification, smoke tests and promotion read."""

    def __init__(self, store: ArchiveStore, registry: RegistryImages) -> None:
        super().__init__(store)
        self.registry = registry

    def image_platforms(self, repository: str, digest: str) -> list[PlatformInfo]:
        return self.registry.image_platforms(repository, digest)

    def image_digest(self, repository: str, tag: str) -> str | None:
        return self.registry.image_digest(repository, tag)

    def promote_image(self, source_repository: str, target_repository: str, digest: str, tag: str) -> BlobsPlaced:
        return self.registry.promote_image(source_repository, target_repository, digest, tag)


class RegistryImages:
    """Reads staged images back and promotes them by digest, through the image package's registry client.

    Promotion mounts every blob from the staging repository and skips what the target holds. ECR
    mounts only with its BLOB_MOUNTING account setting enabled and between repositories under the
    same KMS key (https://docs.aws.amazon.com/AmazonECR/latest/userguide/blob-mounting.html);
    otherwise it opens an upload session, and the blob's bytes are read back from staging and sent,
    verified by digest and size as the mirror's are (the image copier does both).
    """

    def __init__(self, target: TargetRegistry) -> None:
        self.client = target.client
        self.repositories = target.repositories
        self.uploads = target.uploads

    def image_platforms(self, repository: str, digest: str) -> list[PlatformInfo]:
        try:
            image = inspect_image(self.client, repository, digest)
        except RegistryError as exc:
            raise ArtifactMissingError(f"{repository}@{digest}: {exc}") from exc
        if not image.is_index:
            raise ArtifactMissingError(f"{repository}@{digest} is a single-platform image, not an index")
        return [
            PlatformInfo(
                os=p.os,
                arch=p.architecture,
                variant=p.variant,
                manifest_digest=p.manifest_digest,
                config_os=p.config_os,
                config_arch=p.config_architecture,
            )
            for p in image.platforms
        ]

    def image_digest(self, repository: str, tag: str) -> str | None:
        # Only a digest: the caller reads the index back by it, and that read checks the bytes against it.
        try:
            present = self.client.head_manifest(repository, tag)
        except RegistryError as exc:
            raise ArtifactMissingError(f"{repository}:{tag}: {exc}") from exc
        return present.digest if present is not None else None

    def promote_image(self, source_repository: str, target_repository: str, digest: str, tag: str) -> BlobsPlaced:
        """:meth:`ImageCopier.promote_image`, creating the stage's repository first (scan on push, KMS,
        immutable tags, lifecycle rule, as staging's). Each distinct blob is counted once: mounted, already
        there, or re-sent."""
        with ImageCopier(self.client, repositories=self.repositories, uploads=self.uploads) as copier:
            result = copier.promote_image(source_repository, target_repository, digest, tag)
        return BlobsPlaced(
            mounted=result.blobs_mounted,
            skipped=result.blobs_skipped,
            resent=result.blobs_uploaded,
            bytes_resent=result.bytes_uploaded,
        )


def _copy(settings: StagedArtifactsSettings) -> StagedCopy:
    return StagedCopy(S3ArchiveStore(settings.bucket, client=s3_client()), RegistryImages(connect_target(settings)))


def staged_artifacts(settings: StagedArtifactsSettings) -> StagedCopy:
    return _copy(settings)


def promoter(settings: StagedArtifactsSettings) -> StagedCopy:
    return _copy(settings)
