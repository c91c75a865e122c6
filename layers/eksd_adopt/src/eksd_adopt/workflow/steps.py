"""Workflow step 1: check the execution input, validate the manifest, store it and its copy plan."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field

from eksd_adopt.errors import ManifestError
from eksd_adopt.ledger import Ledger, LedgerConflictError, ReleaseRecord, ReleaseStatus
from eksd_adopt.plan import plan_release
from eksd_adopt.policy import UpstreamPolicy
from eksd_adopt.release.validate import Finding, validate_manifest
from eksd_adopt.workflow.errors import WorkflowInputError
from eksd_adopt.workflow.manifests import manifest_key
from eksd_adopt.workflow.models import STAGING, AdoptionInput, ReleaseRef
from eksd_adopt.workflow.plans import UPSTREAM, JobItem, PlanRef, job_items, store_plan
from eksd_adopt.workflow.ports import DocumentStore

STATE_WARNINGS = 20  # warnings listed in Validate's answer; the rest are counted (all are logged)


class ValidateRequest(AdoptionInput):
    """The workflow input, plus where the plan puts things (from the step's configuration)."""

    prefix: str = "eksd"
    strict: bool = False


class ValidateResult(BaseModel):
    """What Validate leaves in the state: small whatever the release's size (the jobs stay in the bucket)."""

    release: ReleaseRef
    plan: PlanRef
    items: list[JobItem]
    warnings: list[Finding] = Field(default_factory=list)

    def for_state(self) -> dict[str, Any]:
        """The Lambda's answer: bounded like the state (a warning per asset would grow with the release)."""
        answer = self.model_dump(mode="json", exclude={"warnings"})
        answer["warnings"] = [w.model_dump(mode="json") for w in self.warnings[:STATE_WARNINGS]]
        answer["warnings_total"] = len(self.warnings)
        return answer


def validate_and_plan(
    request: ValidateRequest,
    *,
    store: DocumentStore,
    ledger: Ledger | None = None,
    policy: UpstreamPolicy | None = None,
    fetch: Callable[[str, int], bytes] | None = None,
) -> ValidateResult:
    """Validate; raise :class:`ManifestError` (every problem listed) or store the manifest and the plan and return them.

    The manifest is the input's ``manifest_yaml``, or, when the input leaves it out (a manifest near
    Step Functions' 256 KiB input quota cannot travel in it), ``fetch(manifest_url, max_bytes)``.
    Either way it must hash to ``manifest_sha256``. Without a ledger nothing is recorded there.
    """
    policy = policy or UpstreamPolicy()
    text = request.manifest_yaml if request.manifest_yaml is not None else _fetched(request, policy, fetch)
    digest = hashlib.sha256(text.encode()).hexdigest()
    if digest != request.manifest_sha256.lower():
        raise WorkflowInputError(
            f"the manifest hashes to {digest}, not manifest_sha256 {request.manifest_sha256} "
            f"(the manifest of {request.release_id} changed between intake and the workflow)"
        )
    report = validate_manifest(text, policy=policy, source=request.release_id)
    release = report.require_valid(strict=request.strict)
    if (release.release_id, release.channel, release.number) != (request.release_id, request.channel, request.number):
        raise ManifestError(f"the manifest is release {release.release_id}, not {request.release_id}")
    plan = plan_release(release, prefix=request.prefix, stage=STAGING)
    location = store.put(
        manifest_key(plan.prefix, UPSTREAM, release.channel, release.number), text.encode(), write_once=True
    )
    ref = ReleaseRef(
        release_id=release.release_id,
        channel=release.channel,
        number=release.number,
        kubernetes_version=release.kubernetes_version,
        manifest_url=request.manifest_url,
        manifest_location=location,
    )
    stored = store_plan(plan, store)
    if ledger is not None:
        _record_adopting(ledger, request, ref)
    return ValidateResult(release=ref, plan=stored, items=job_items(stored), warnings=report.warnings)


def _fetched(request: ValidateRequest, policy: UpstreamPolicy, fetch: Callable[[str, int], bytes] | None) -> str:
    if fetch is None:
        raise WorkflowInputError(f"the input of {request.release_id} has no manifest_yaml and no fetcher is configured")
    try:
        return fetch(request.manifest_url, policy.max_manifest_bytes).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{request.manifest_url} is not UTF-8 text: {exc}") from exc


def _record_adopting(ledger: Ledger, request: AdoptionInput, ref: ReleaseRef) -> None:
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
