"""Workflow steps 3 and 4: verify the staged copy against the manifest, write the staged manifest, smoke-test it."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from eksd_adopt.events import EventPublisher, EventType
from eksd_adopt.ledger import Ledger, ReleaseStatus
from eksd_adopt.plan import CopyPlan, ImageCopyJob
from eksd_adopt.reference import ImageReference
from eksd_adopt.workflow.errors import ArtifactMissingError, SmokeTestFailedError, VerificationFailedError
from eksd_adopt.workflow.manifests import dump_manifest, load_manifest, manifest_key, rewrite_manifest
from eksd_adopt.workflow.models import CheckReport, CheckResult, ReleaseRef
from eksd_adopt.workflow.ports import DocumentStore, StagedArtifacts
from eksd_adopt.workflow.publishing import emit

IMAGES_CONTENT_TYPE = "application/json"


class StagedImage(BaseModel):
    """Where one image landed in a stage, pinned by digest."""

    repository: str
    tag: str
    digest: str
    source: str  # upstream repository:tag
    arch: list[str] = Field(default_factory=list)


class StagedImages(BaseModel):
    """The verified images of a release: what the smoke tests read and promotion copies, digest by digest."""

    release_id: str
    images: list[StagedImage]


class StagedRef(BaseModel):
    """What the state carries of the verified images: where the document is, its digest, how many."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    location: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    images: int = Field(ge=0)


class VerifyResult(BaseModel):
    verification: dict[str, Any]
    staged: StagedRef
    staged_manifest_location: str
    copied: dict[str, int]


def verify_staged(
    release: ReleaseRef,
    plan: CopyPlan,
    *,
    artifacts: StagedArtifacts,
    store: DocumentStore,
    ledger: Ledger,
    publisher: EventPublisher,
    registry_host: str,
) -> VerifyResult:
    """Re-check every staged artifact; on success write the staged manifest and images. Raises VerificationFailedError.

    An image's digest is the manifest's ``imageDigest``, or, where the manifest has none, the one its
    staging tag names (the mirror resolved the upstream tag once and staged exactly that): nothing a
    mirror function returned is needed, so no per-job result travels through the state.
    """
    ledger.update(release.release_id, status=ReleaseStatus.MIRRORED)
    emit(publisher, EventType.MIRRORED, release, images=len(plan.images), archives=len(plan.archives))
    report = CheckReport(name="verification")
    staged: list[StagedImage] = []
    for job in plan.images:
        try:
            digest = job.known_digest or artifacts.image_digest(job.target_repository, job.tag)
        except ArtifactMissingError as exc:
            report.checks.append(CheckResult(artifact=job.source, check="index", ok=False, detail=str(exc)))
            continue
        if digest is None:
            detail = f"{job.target_repository}:{job.tag} is not in the registry"
            report.checks.append(CheckResult(artifact=job.source, check="index", ok=False, detail=detail))
            continue
        staged.append(_verify_image(job, digest, artifacts, report))
    for archive in plan.archives:
        try:
            sha256, sha512 = artifacts.archive_checksums(archive.target_key)
        except ArtifactMissingError as exc:
            report.checks.append(CheckResult(artifact=archive.target_key, check="present", ok=False, detail=str(exc)))
            continue
        report.checks.append(
            CheckResult(
                artifact=archive.target_key,
                check="checksums",
                ok=(sha256, sha512) == (archive.sha256, archive.sha512),
                detail="" if sha256 == archive.sha256 else f"sha256 {sha256} != {archive.sha256}",
            )
        )
    if not report.ok:
        raise VerificationFailedError(_describe(report))
    artifacts.write_checksum_files(list(plan.archives))
    location = write_stage_manifest(release, plan, plan.stage, staged, store=store, registry_host=registry_host)
    images = store_staged_images(plan, staged, store)
    ledger.update(release.release_id, status=ReleaseStatus.VERIFIED)
    emit(
        publisher, EventType.VERIFIED, release, stage=plan.stage, manifest_location=location, checks=len(report.checks)
    )
    return VerifyResult(
        verification=report.summary(),
        staged=images,
        staged_manifest_location=location,
        copied={"images": len(plan.images), "archives": len(plan.archives)},
    )


def staged_images_key(plan: CopyPlan) -> str:
    """``<prefix>/<stage>/kubernetes-<ch>/kubernetes-<ch>-eks-<N>.images.json``, beside the stage's manifest."""
    return manifest_key(plan.prefix, plan.stage, plan.channel, plan.number).removesuffix(".yaml") + ".images.json"


def store_staged_images(plan: CopyPlan, images: list[StagedImage], store: DocumentStore) -> StagedRef:
    body = StagedImages(release_id=plan.release_id, images=images).model_dump_json().encode()
    location = store.put(staged_images_key(plan), body, content_type=IMAGES_CONTENT_TYPE)
    return StagedRef(location=location, sha256=hashlib.sha256(body).hexdigest(), images=len(images))


def load_staged_images(ref: StagedRef, release_id: str, store: DocumentStore) -> list[StagedImage]:
    """The images Verify verified, refused unless the document is byte for byte the one it wrote."""
    body = store.get(ref.location)
    digest = hashlib.sha256(body).hexdigest()
    if digest != ref.sha256:
        raise ArtifactMissingError(f"{ref.location} hashes to {digest}, not {ref.sha256}: it changed after Verify")
    document = StagedImages.model_validate_json(body)
    if document.release_id != release_id or len(document.images) != ref.images:
        raise ArtifactMissingError(f"{ref.location} does not hold the {ref.images} verified images of {release_id}")
    return document.images


def _verify_image(job: ImageCopyJob, digest: str, artifacts: StagedArtifacts, report: CheckReport) -> StagedImage:
    name = f"{job.target_repository}@{digest}"
    try:
        platforms = artifacts.image_platforms(job.target_repository, digest)
    except ArtifactMissingError as exc:
        report.checks.append(CheckResult(artifact=name, check="index", ok=False, detail=str(exc)))
    else:
        report.checks.append(CheckResult(artifact=name, check="index", ok=True))
        present = {p.arch for p in platforms}
        missing = sorted(set(job.arch) - present)
        report.checks.append(
            CheckResult(
                artifact=name,
                check="platforms present",
                ok=not missing,
                detail=f"missing {', '.join(missing)}" if missing else "",
            )
        )
    return StagedImage(
        repository=job.target_repository, tag=job.tag, digest=digest, source=job.source, arch=list(job.arch)
    )


def write_stage_manifest(
    release: ReleaseRef,
    plan: CopyPlan,
    stage: str,
    images: list[StagedImage],
    *,
    store: DocumentStore,
    registry_host: str,
    repository_of: Any = None,
    key_of: Any = None,
) -> str:
    """The upstream manifest rewritten to ``stage``'s copies (registry by digest, bucket), stored; its location."""
    if release.manifest_location is None:
        raise VerificationFailedError(f"release {release.release_id}: the upstream manifest was not stored")
    document = load_manifest(store.get(release.manifest_location))
    repo = repository_of or (lambda r: r)
    key = key_of or (lambda k: k)
    image_map = {i.source: (f"{registry_host}/{repo(i.repository)}", i.digest) for i in images}
    archive_map = {a.source_url: store.location(key(a.target_key)) for a in plan.archives}
    body = dump_manifest(rewrite_manifest(document, images=image_map, archives=archive_map))
    return store.put(manifest_key(plan.prefix, stage, release.channel, release.number), body)


def smoke_test(plan: CopyPlan, images: list[StagedImage], *, artifacts: StagedArtifacts) -> CheckReport:
    """Built-in smoke tests: platforms equal the manifest's arch list, config os/arch right, archives re-hashed."""
    report = CheckReport(name="smoke tests")
    for image in images:
        name = f"{image.repository}@{image.digest}"
        try:
            platforms = artifacts.image_platforms(image.repository, image.digest)
        except ArtifactMissingError as exc:
            report.checks.append(CheckResult(artifact=name, check="pull", ok=False, detail=str(exc)))
            continue
        found = sorted({p.arch for p in platforms if p.os == "linux"})
        report.checks.append(
            CheckResult(
                artifact=name,
                check="platforms match arch list",
                ok=found == sorted(image.arch) or not image.arch,
                detail=f"index has {found}, manifest lists {sorted(image.arch)}",
            )
        )
        for p in platforms:
            ok = (p.config_os, p.config_arch) == (p.os, p.arch)
            report.checks.append(
                CheckResult(
                    artifact=f"{name} {p.os}/{p.arch}",
                    check="config os/arch",
                    ok=ok,
                    detail="" if ok else f"config says {p.config_os}/{p.config_arch}",
                )
            )
    for archive in plan.archives:
        try:
            sha256, sha512 = artifacts.archive_checksums(archive.target_key)
        except ArtifactMissingError as exc:
            report.checks.append(CheckResult(artifact=archive.target_key, check="re-hash", ok=False, detail=str(exc)))
            continue
        report.checks.append(
            CheckResult(
                artifact=archive.target_key, check="re-hash", ok=(sha256, sha512) == (archive.sha256, archive.sha512)
            )
        )
    return report


def run_smoke_tests(plan: CopyPlan, images: list[StagedImage], *, artifacts: StagedArtifacts) -> dict[str, Any]:
    report = smoke_test(plan, images, artifacts=artifacts)
    if not report.ok:
        raise SmokeTestFailedError(_describe(report))
    return report.summary()


def record_tested(
    release: ReleaseRef,
    smoke: dict[str, Any],
    team: dict[str, Any] | None,
    *,
    ledger: Ledger,
    publisher: EventPublisher,
) -> dict[str, Any]:
    """Both test steps passed: the ledger says tested and the event carries both results. ``tested_at`` (the
    state keeps it) is when the team's step was found passed: its completion time in the signed record."""
    ledger.update(release.release_id, status=ReleaseStatus.TESTED)
    tests = {"smoke": smoke, "team": team, "tested_at": datetime.now(UTC).isoformat()}
    emit(publisher, EventType.TESTED, release, smoke=smoke, team=team)
    return tests


def _describe(report: CheckReport) -> str:
    failures = report.failures
    listed = "; ".join(f"{f.artifact}: {f.check} {f.detail}".strip() for f in failures[:10])
    more = f" (and {len(failures) - 10} more)" if len(failures) > 10 else ""
    return f"{report.name}: {len(failures)} of {len(report.checks)} checks failed: {listed}{more}"


__all__ = [
    "ImageReference",
    "StagedImage",
    "StagedRef",
    "VerifyResult",
    "load_staged_images",
    "record_tested",
    "run_smoke_tests",
    "verify_staged",
]
