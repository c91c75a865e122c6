"""Workflow step 1: check the execution input, validate the manifest, store it and plan the copy jobs."""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from eksd_adopt.errors import ManifestError
from eksd_adopt.ledger import Ledger, LedgerConflictError, ReleaseRecord, ReleaseStatus
from eksd_adopt.plan import ArchiveCopyJob, CopyPlan, ImageCopyJob, plan_release
from eksd_adopt.policy import UpstreamPolicy
from eksd_adopt.release.validate import Finding, validate_manifest
from eksd_adopt.workflow.errors import WorkflowInputError
from eksd_adopt.workflow.manifests import manifest_key
from eksd_adopt.workflow.models import STAGING, ReleaseRef, WorkflowInput
from eksd_adopt.workflow.ports import DocumentStore

UPSTREAM = "upstream"


class ValidateRequest(WorkflowInput):
    """The workflow input, plus where the plan puts things (from the step's configuration)."""

    prefix: str = "eksd"
    strict: bool = False


class PlanHeader(BaseModel):
    """The plan without its jobs: the jobs travel once, as the Map state's items."""

    model_config = ConfigDict(frozen=True)

    release_id: str
    channel: str
    number: int
    stage: str
    prefix: str


class ValidateResult(BaseModel):
    release: ReleaseRef
    plan: PlanHeader
    jobs: list[dict[str, Any]]
    warnings: list[Finding] = Field(default_factory=list)


def plan_from_state(header: PlanHeader, jobs: list[dict[str, Any]]) -> CopyPlan:
    """Rebuild the copy plan from the workflow state (header + the Map's job items)."""
    return CopyPlan(
        **header.model_dump(),
        images=tuple(ImageCopyJob.model_validate(j) for j in jobs if j.get("kind") == "image"),
        archives=tuple(ArchiveCopyJob.model_validate(j) for j in jobs if j.get("kind") == "archive"),
    )


def validate_and_plan(
    request: ValidateRequest,
    *,
    store: DocumentStore | None = None,
    ledger: Ledger | None = None,
    policy: UpstreamPolicy | None = None,
) -> ValidateResult:
    """Validate; raise :class:`ManifestError` (every problem listed) or store the manifest and return the plan.

    Without a store or ledger (the CLI's dry run) nothing is written.
    """
    digest = hashlib.sha256(request.manifest_yaml.encode()).hexdigest()
    if digest != request.manifest_sha256.lower():
        raise WorkflowInputError(
            f"manifest_yaml hashes to {digest}, not manifest_sha256 {request.manifest_sha256} "
            f"(the manifest of {request.release_id} changed between intake and the workflow)"
        )
    report = validate_manifest(request.manifest_yaml, policy=policy, source=request.release_id)
    release = report.require_valid(strict=request.strict)
    if (release.release_id, release.channel, release.number) != (request.release_id, request.channel, request.number):
        raise ManifestError(f"the manifest is release {release.release_id}, not {request.release_id}")
    plan = plan_release(release, prefix=request.prefix, stage=STAGING)
    location = None
    if store is not None:
        key = manifest_key(plan.prefix, UPSTREAM, release.channel, release.number)
        location = store.put(key, request.manifest_yaml.encode(), write_once=True)
    ref = ReleaseRef(
        release_id=release.release_id,
        channel=release.channel,
        number=release.number,
        kubernetes_version=release.kubernetes_version,
        manifest_url=request.manifest_url,
        manifest_location=location,
    )
    if ledger is not None:
        _record_adopting(ledger, request, ref)
    return ValidateResult(
        release=ref,
        plan=PlanHeader(**plan.model_dump(include={"release_id", "channel", "number", "stage", "prefix"})),
        jobs=[j.model_dump(mode="json") for j in (*plan.images, *plan.archives)],
        warnings=report.warnings,
    )


def _record_adopting(ledger: Ledger, request: WorkflowInput, ref: ReleaseRef) -> None:
    # The intake normally creates the record; a workflow started by hand creates it here.
    ledger.create(
        ReleaseRecord(
            release_id=ref.release_id,
            channel=ref.channel,
            number=ref.number,
            status=ReleaseStatus.ADOPTING,
            announced=request.announced,
        )
    )
    try:
        ledger.update(
            ref.release_id,
            status=ReleaseStatus.ADOPTING,
            kubernetes_version=ref.kubernetes_version,
            manifest_sha256=request.manifest_sha256.lower(),
            manifest_location=ref.manifest_location,
        )
    except LedgerConflictError as exc:  # pragma: no cover - create() above guarantees the record
        raise WorkflowInputError(str(exc)) from exc
