"""One image job as the mirror-image function runs it: settings -> copier -> result."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from eksd_adopt.images.client import BasicCredentials, RegistryClient, default_http_client
from eksd_adopt.images.copier import (
    MIB,
    ImageCopier,
    ImageCopyResult,
    RepositoryProvisioner,
    SourceRegistries,
    UploadMode,
)
from eksd_adopt.images.errors import RegistryError
from eksd_adopt.images.settings import MirrorImageSettings
from eksd_adopt.plan import ImageCopyJob
from eksd_adopt.policy import UpstreamPolicy


class ImageJobRequest(BaseModel):
    """The Map item the workflow hands the function: ``{"job": <ImageCopyJob>}``."""

    model_config = ConfigDict(extra="ignore")

    job: ImageCopyJob


def build_copier(
    settings: MirrorImageSettings,
    *,
    ecr: Any | None = None,
    policy: UpstreamPolicy | None = None,
    on_bytes: Any | None = None,
) -> ImageCopier:
    """A copier for the configured target; ``ecr`` is a boto3 ECR client (made on demand when needed)."""
    credentials: BasicCredentials | None = None
    repositories: RepositoryProvisioner | None = None
    if settings.target_registry_auth == "ecr" or settings.ecr_control_plane:
        from eksd_adopt.images.ecr import EcrRepositories, ecr_client, ecr_credentials

        ecr = ecr or ecr_client()
        if settings.target_registry_auth == "ecr":
            credentials = ecr_credentials(ecr)
        if settings.ecr_control_plane:
            repositories = EcrRepositories(ecr, kms_key_arn=settings.ecr_kms_key_arn)
    connections = settings.concurrency * 2 + 4
    target = RegistryClient(
        settings.target_registry_url, credentials=credentials, http=default_http_client(connections)
    )
    sources = SourceRegistries(
        policy or UpstreamPolicy.load(settings.policy_path),
        settings.endpoint_map,
        client_factory=lambda base, host, requests: RegistryClient(
            base, display_host=host, http=default_http_client(connections), policy=requests
        ),
    )
    return ImageCopier(
        target,
        sources=sources,
        repositories=repositories,
        blob_concurrency=settings.concurrency,
        uploads=UploadMode.for_target(
            ecr=settings.targets_ecr,
            upload=settings.upload_mode,
            chunk_size=settings.chunk_size_mib * MIB if settings.chunk_size_mib else None,
        ),
        on_bytes=on_bytes,
    )


def check_target(settings: MirrorImageSettings, job: ImageCopyJob) -> None:
    """Refuse a job whose target repository is outside the configured prefix (before any request)."""
    prefix = (settings.repository_prefix or "").strip("/")
    if prefix and not job.target_repository.startswith(prefix + "/"):
        raise RegistryError(f"job target repository {job.target_repository!r} is outside {prefix + '/'!r}")


def run_image_job(settings: MirrorImageSettings, job: ImageCopyJob, *, ecr: Any | None = None) -> ImageCopyResult:
    check_target(settings, job)
    with build_copier(settings, ecr=ecr) as copier:
        return copier.copy(job)
