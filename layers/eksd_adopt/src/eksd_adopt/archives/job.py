"""One archive job as the workflow runs it: settings in, a verified copy (or a domain error) out."""

from __future__ import annotations

import httpx
from pydantic import BaseModel, ConfigDict

from eksd_adopt.archives.copier import ArchiveCopier, ArchiveCopyResult
from eksd_adopt.archives.settings import MirrorArchiveSettings
from eksd_adopt.archives.store import ArchiveStore
from eksd_adopt.observability import MetricSink, domain_logger
from eksd_adopt.plan import ArchiveCopyJob
from eksd_adopt.policy import UpstreamPolicy

logger = domain_logger()


class ArchiveJobRequest(BaseModel):
    """The Map state's item: ``{"job": <ArchiveCopyJob>, "release_id": ...}``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    job: ArchiveCopyJob
    release_id: str | None = None  # every log line of an adoption carries it


def run_archive_job(
    settings: MirrorArchiveSettings,
    job: ArchiveCopyJob,
    *,
    store: ArchiveStore | None = None,
    policy: UpstreamPolicy | None = None,
    metrics: MetricSink | None = None,
) -> ArchiveCopyResult:
    """Copy ``job`` into the configured bucket. Everything is built per call: no state survives between calls."""
    if store is None:
        from eksd_adopt.archives.s3store import S3ArchiveStore  # boto3 only when the real bucket is used

        store = S3ArchiveStore(settings.archive_bucket)
    policy = policy or UpstreamPolicy.load(settings.policy_path)
    with httpx.Client(timeout=httpx.Timeout(30.0, connect=10.0), follow_redirects=False) as client:
        copier = ArchiveCopier(
            store,
            allowed_hosts=policy.archive_hosts,
            endpoints=settings.endpoint_map,
            client=client,
            part_size=settings.part_size,
            key_prefix=settings.key_prefix,
            deadline=settings.deadline,
        )
        result = copier.copy(job)
    if metrics is not None:
        metrics("ArchiveBytesCopied", 0 if result.skipped else result.bytes, "Bytes")
        metrics("ArchivesSkipped", int(result.skipped), "Count")
    logger.info(
        "archive mirrored",
        extra={"bytes": result.bytes, "skipped": result.skipped, "resumed": result.resumed, "seconds": result.seconds},
    )
    return result
