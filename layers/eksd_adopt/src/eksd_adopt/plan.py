"""From a validated release to a deterministic list of copy jobs (images to ECR, archives to S3)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, field_validator

from eksd_adopt.policy import url_path
from eksd_adopt.reference import ImageReference, check_digest

if TYPE_CHECKING:  # the jobs alone (what a mirror function reads) need no release models
    from eksd_adopt.release.model import Release


class ImageCopyJob(BaseModel):
    """Copy one upstream image (its whole multi-arch index) into a target repository, by digest."""

    model_config = ConfigDict(frozen=True)

    kind: str = "image"
    component: str
    asset: str
    source: str  # full upstream reference with tag, e.g. public.ecr.aws/eks-distro/kubernetes/pause:v1.20.4-eks-1-20-1
    known_digest: str | None  # imageDigest from the manifest; a different upstream digest is refused
    target_repository: str  # <prefix>/<stage>/<upstream path>
    tag: str
    arch: tuple[str, ...] = ()

    @field_validator("known_digest")
    @classmethod
    def _whole_digest(cls, value: str | None) -> str | None:
        # A job also arrives from the stored plan document: its digest goes into registry request paths.
        return None if value is None else check_digest(value, "known_digest")

    @property
    def source_reference(self) -> ImageReference:
        return ImageReference.parse(self.source)


class ArchiveCopyJob(BaseModel):
    """Copy one upstream archive into the bucket, verifying sha256 and sha512."""

    model_config = ConfigDict(frozen=True)

    kind: str = "archive"
    component: str
    asset: str
    source_url: str
    sha256: str
    sha512: str
    target_key: str  # <prefix>/<stage>/kubernetes-<ch>/releases/<N>/artifacts/...


class CopyPlan(BaseModel):
    model_config = ConfigDict(frozen=True)

    release_id: str
    channel: str
    number: int
    stage: str
    prefix: str
    images: tuple[ImageCopyJob, ...]
    archives: tuple[ArchiveCopyJob, ...]


def stage_key_prefix(prefix: str, stage: str, channel: str, number: int) -> str:
    """Where a release's archives live in the bucket, mirroring upstream's layout."""
    return "/".join(p for p in (prefix.strip("/"), stage, f"kubernetes-{channel}", "releases", str(number))) + "/"


def stage_repository(prefix: str, stage: str, upstream_repository: str) -> str:
    return "/".join(p for p in (prefix.strip("/"), stage, upstream_repository))


def plan_release(release: Release, *, prefix: str, stage: str = "staging") -> CopyPlan:
    """Copy jobs for a *validated* release, sorted so that the same manifest always gives the same plan.

    Upstream lists components in random order (a Go map), so order comes from the targets. An image
    or archive listed twice is copied once; two entries that disagree about one target (which the
    validator refuses) raise ValueError rather than one silently winning.
    """
    images: dict[str, ImageCopyJob] = {}
    for component, asset in release.image_assets():
        assert asset.image and asset.image.uri and asset.name and component.name  # guaranteed by validation
        reference = ImageReference.parse(asset.image.uri)
        if not reference.tag or reference.digest:
            raise ValueError(f"{asset.name}: {asset.image.uri!r} must name a tag and no digest")
        job = ImageCopyJob(
            component=component.name,
            asset=asset.name,
            source=str(reference),
            known_digest=asset.image.image_digest,
            target_repository=stage_repository(prefix, stage, reference.repository),
            tag=reference.tag,
            arch=tuple(asset.arch or ()),
        )
        first = images.setdefault(f"{job.target_repository}:{job.tag}", job)
        if (first.source, first.known_digest) != (job.source, job.known_digest):
            raise ValueError(f"{first.asset} and {job.asset} disagree about {job.target_repository}:{job.tag}")
    archives: dict[str, ArchiveCopyJob] = {}
    key_prefix = stage_key_prefix(prefix, stage, release.channel, release.number)
    upstream_prefix = f"/kubernetes-{release.channel}/releases/{release.number}/"
    for component, asset in release.archive_assets():
        assert asset.archive and asset.archive.uri and asset.name and component.name
        archive = ArchiveCopyJob(
            component=component.name,
            asset=asset.name,
            source_url=asset.archive.uri,
            sha256=asset.archive.sha256 or "",
            sha512=asset.archive.sha512 or "",
            target_key=key_prefix + url_path(asset.archive.uri).removeprefix(upstream_prefix),
        )
        first_archive = archives.setdefault(archive.target_key, archive)
        if (first_archive.sha256, first_archive.sha512) != (archive.sha256, archive.sha512):
            raise ValueError(f"{first_archive.asset} and {archive.asset} disagree about {archive.target_key}")
    return CopyPlan(
        release_id=release.release_id,
        channel=release.channel,
        number=release.number,
        stage=stage,
        prefix=prefix.strip("/"),
        images=tuple(sorted(images.values(), key=lambda j: (j.target_repository, j.tag))),
        archives=tuple(sorted(archives.values(), key=lambda j: j.target_key)),
    )
