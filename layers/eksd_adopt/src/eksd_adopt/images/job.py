"""One image job as the mirror-image function runs it: settings -> copier -> result."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from eksd_adopt.images.client import RegistryClient, default_http_client
from eksd_adopt.images.copier import (
    MIB,
    ImageCopier,
    ImageCopyResult,
    SourceRegistries,
)
from eksd_adopt.images.errors import RegistryError
from eksd_adopt.images.registry import connect_target
from eksd_adopt.images.settings import MirrorImageSettings
from eksd_adopt.observability import MetricSink, domain_logger
from eksd_adopt.plan import ImageCopyJob
from eksd_adopt.policy import UpstreamPolicy

logger = domain_logger()


class ImageJobRequest(BaseModel):
    """The Map item the workflow hands the function: ``{"job": <ImageCopyJob>, "release_id": ...}``."""

    model_config = ConfigDict(extra="ignore")

    job: ImageCopyJob
    release_id: str | None = None  # every log line of an adoption carries it


def build_copier(
    settings: MirrorImageSettings,
    *,
    ecr: Any | None = None,
    policy: UpstreamPolicy | None = None,
    on_bytes: Any | None = None,
) -> ImageCopier:
    """A copier for the configured target; ``ecr`` is a boto3 ECR client (made on demand when needed)."""
    connections = settings.concurrency * 2 + 4
    target = connect_target(
        settings,
        ecr=ecr,
        connections=connections,
        upload=settings.upload_mode,
        chunk_size=settings.chunk_size_mib * MIB if settings.chunk_size_mib else None,
    )
    sources = SourceRegistries(
        policy or UpstreamPolicy.load(settings.policy_path),
        settings.endpoint_map,
        client_factory=lambda base, host, requests: RegistryClient(
            base, display_host=host, http=default_http_client(connections), policy=requests
        ),
    )
    return ImageCopier(
        target.client,
        sources=sources,
        repositories=target.repositories,
        blob_concurrency=settings.concurrency,
        uploads=target.uploads,
        on_bytes=on_bytes,
    )


def check_target(settings: MirrorImageSettings, job: ImageCopyJob) -> None:
    """Refuse a job whose target repository is outside the configured prefix (before any request)."""
    prefix = (settings.repository_prefix or "").strip("/")
    if prefix and not job.target_repository.startswith(prefix + "/"):
        raise RegistryError(f"job target repository {job.target_repository!r} is outside {prefix + '/'!r}")


def run_image_job(
    settings: MirrorImageSettings, job: ImageCopyJob, *, ecr: Any | None = None, metrics: MetricSink | None = None
) -> ImageCopyResult:
    check_target(settings, job)
    with build_copier(settings, ecr=ecr) as copier:
        result = copier.copy(job)
    if metrics is not None:
        metrics("ImageBytesUploaded", result.bytes_uploaded, "Bytes")
        metrics("ImageBlobsMounted", result.blobs_mounted, "Count")
        metrics("ImagesSkipped", int(result.skipped), "Count")
    logger.info(
        "image mirrored",
        extra={
            "digest": result.digest,
            "target": result.target,
            "skipped": result.skipped,
            "uploaded": result.blobs_uploaded,
            "mounted": result.blobs_mounted,
            "bytes": result.bytes_uploaded,
            "seconds": result.seconds,
        },
    )
    return result
