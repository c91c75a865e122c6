"""Workflow step models and use cases, free of AWS event shapes and boto3."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from eksd_adopt.errors import ManifestError
from eksd_adopt.plan import CopyPlan, plan_release
from eksd_adopt.policy import UpstreamPolicy
from eksd_adopt.release.validate import Finding, validate_manifest


class ValidateRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    release_id: str
    manifest_yaml: str
    prefix: str = "eksd"
    stage: str = "staging"
    strict: bool = False


class ValidateResult(BaseModel):
    release_id: str
    kubernetes_version: str | None
    warnings: list[Finding]
    plan: CopyPlan


def validate_and_plan(request: ValidateRequest, policy: UpstreamPolicy | None = None) -> ValidateResult:
    """Validate the manifest; raise :class:`ManifestError` (every problem listed) or return the plan."""
    report = validate_manifest(request.manifest_yaml, policy=policy, source=request.release_id)
    release = report.require_valid(strict=request.strict)
    if release.release_id != request.release_id:
        raise ManifestError(f"the manifest is release {release.release_id}, not {request.release_id}")
    return ValidateResult(
        release_id=release.release_id,
        kubernetes_version=release.kubernetes_version,
        warnings=report.warnings,
        plan=plan_release(release, prefix=request.prefix, stage=request.stage),
    )
