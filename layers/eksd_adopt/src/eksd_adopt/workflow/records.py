"""The signed adoption record of a promotion or a rollback, built from what the workflow did and stored, signed, attached.

Promotion (:func:`promotion_predicate`) names every artifact it placed in the stage, by digest: the
images from the verified staged images with the stage's repositories, the archives from the plan with
the stage's keys, and the stage manifest by the sha256 of the bytes in the bucket. ``recorded_at`` is the
Promote state's entry time, so a retried invocation rebuilds the very same statement and
:func:`~eksd_adopt.attestation.record.write_record` finds it there instead of signing a second one.
A rollback (:func:`rollback_predicate`) copies the target release's newest promotion record in that
stage, checked against the signing key first, as kind ``rollback``. :func:`store_record` signs and
stores write-once, publishes the public key beside the records, and attaches the envelope to every
image as an OCI referrer. The pointer moves only after all of it (the callers' order).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import BaseModel, ConfigDict, Field

from eksd_adopt.approvals.models import ApprovalVote
from eksd_adopt.attestation import dsse
from eksd_adopt.attestation.attach import AttachedRecord, attach_record
from eksd_adopt.attestation.errors import AttestationError, RecordNotFoundError
from eksd_adopt.attestation.ports import RecordBucket, ReferrerTarget
from eksd_adopt.attestation.record import (
    StoredRecord,
    list_records,
    publish_public_key,
    read_record,
    record_key,
    write_record,
)
from eksd_adopt.attestation.statement import (
    AdoptedArchive,
    AdoptedImage,
    AdoptionPredicate,
    AdoptionStatement,
    Approval,
    CheckOutcome,
    RecordKind,
    StageManifest,
    UpstreamRelease,
    Verification,
)
from eksd_adopt.plan import CopyPlan
from eksd_adopt.workflow.checks import StagedImage
from eksd_adopt.workflow.manifests import stage_key_of, stage_repository_of
from eksd_adopt.workflow.models import ReleaseRef


class PromotionEvidence(BaseModel):
    """What the state machine hands Promote beside the release: when and in which execution, and the
    summaries of the checks the release passed (Verify's, the smoke tests', the team test's)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    recorded_at: datetime  # $$.State.EnteredTime of Promote: the same on every retry of the state
    execution: str  # $$.Execution.Id
    verification: dict[str, Any]  # Verify's CheckReport.summary()
    tests: dict[str, Any]  # {"smoke": summary, "team": the team's answer or {"configured": false}, "tested_at"}


class RollbackRequest(BaseModel):
    """A rollback the approvers' endpoint authorized, for the promotion function to record (only it signs)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stage: str
    release_id: str = Field(description="the release the stage goes back to")
    from_release_id: str = Field(description="the release the stage points at now")
    by: str = Field(description="the signed caller's ARN")
    requested_at: datetime


class RollbackInvocation(BaseModel):
    """How the approvers' endpoint invokes the promotion function for a rollback's record."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rollback: RollbackRequest


@dataclass(frozen=True)
class Recording:
    """Where records go and who signs them: the bucket, the KMS signer and its public key, the registry."""

    bucket: RecordBucket
    signer: dsse.Signer
    public_key: Callable[[], ec.EllipticCurvePublicKey]
    referrers: ReferrerTarget
    prefix: str
    registry_host: str


class RecordedResult(BaseModel):
    """A record stored (or found stored by an earlier try) and the referrers attached to its images."""

    key: str
    created: bool
    referrers: list[AttachedRecord]


def check_outcome(summary: Mapping[str, Any] | None, what: str) -> CheckOutcome | None:
    """A step's summary (``ok``, ``checks``, ``failed``, ``completed_at``) as the record's outcome; None: not run."""
    if not summary:
        return None
    try:
        return CheckOutcome(
            ok=bool(summary["ok"]),
            checks=int(summary["checks"]),
            failed=int(summary["failed"]),
            completed_at=summary["completed_at"],
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise AttestationError(f"the {what} summary in the workflow state is incomplete ({exc})") from exc


def team_outcome(team: Mapping[str, Any] | None, tested_at: Any) -> CheckOutcome | None:
    """The team's test step: passed when the workflow reached promotion (a failure stops it first).

    Its answer is the team's own JSON; ``checks``/``failed`` are taken when they are counts, else one check.
    """
    if not team or team.get("configured") is False:
        return None
    checks, failed = team.get("checks"), team.get("failed")
    counted = isinstance(checks, int) and not isinstance(checks, bool) and checks >= 0
    failures = failed if isinstance(failed, int) and not isinstance(failed, bool) and failed >= 0 else 0
    return CheckOutcome(
        ok=team.get("ok", True) is not False and failures == 0,
        checks=checks if counted else 1,
        failed=failures,
        completed_at=tested_at,
    )


def approvals_of(votes: Sequence[ApprovalVote]) -> tuple[Approval, ...]:
    """The gate's approve votes; ``accepted_findings`` when a vote carries them (CVE ids over the threshold)."""
    return tuple(
        Approval(
            principal=v.approver,
            counted_as=v.counted_as,
            decided_at=v.decided_at,
            comment=v.comment,
            accepted_findings=tuple(getattr(v, "accepted_findings", None) or ()),
        )
        for v in votes
        if v.decision == "approve"
    )


def promotion_predicate(
    release: ReleaseRef,
    plan: CopyPlan,
    images: Sequence[StagedImage],
    stage: str,
    *,
    evidence: PromotionEvidence,
    upstream_manifest: bytes,
    stage_manifest_key: str,
    stage_manifest: bytes,
    previous_release_id: str | None,
    approvals: Sequence[ApprovalVote],
    registry_host: str,
) -> AdoptionPredicate:
    """Every artifact promotion placed in ``stage`` (images by index digest, archives by both checksums, the
    manifest), with the checks and the approvals; ValueError (pydantic's, naming the field) on a bad value."""
    if release.manifest_url is None:
        raise AttestationError(f"release {release.release_id}: the workflow state has no manifest_url")
    jobs = {job.target_repository: job for job in plan.images}
    adopted_images = []
    for image in images:
        job = jobs.get(image.repository)
        if job is None:
            raise AttestationError(f"{image.repository}: a verified image the plan of {release.release_id} lacks")
        adopted_images.append(
            AdoptedImage(
                component=job.component,
                asset=job.asset,
                upstream=image.source,
                name=f"{registry_host}/{stage_repository_of(plan, image.repository, stage)}",
                tag=image.tag,
                digest=image.digest,
                platforms=tuple(image.arch),
            )
        )
    archives = tuple(
        AdoptedArchive(
            component=job.component,
            asset=job.asset,
            upstream_url=job.source_url,
            key=stage_key_of(plan, job.target_key, stage),
            sha256=job.sha256,
            sha512=job.sha512,
        )
        for job in plan.archives
    )
    digests = check_outcome(evidence.verification, "verification")
    smoke = check_outcome(evidence.tests.get("smoke"), "smoke test")
    if digests is None or smoke is None:
        raise AttestationError(f"release {release.release_id}: the state lacks the verification or smoke summary")
    return AdoptionPredicate(
        kind=RecordKind.PROMOTION,
        recorded_at=evidence.recorded_at,
        stage=stage,
        previous_release_id=previous_release_id,
        workflow_execution=evidence.execution,
        upstream=UpstreamRelease(
            release_id=release.release_id,
            channel=release.channel,
            number=release.number,
            kubernetes_version=release.kubernetes_version,
            manifest_url=release.manifest_url,
            manifest_sha256=hashlib.sha256(upstream_manifest).hexdigest(),
        ),
        stage_manifest=StageManifest(key=stage_manifest_key, sha256=hashlib.sha256(stage_manifest).hexdigest()),
        images=tuple(adopted_images),
        archives=archives,
        verification=Verification(
            digests=digests,
            checksum_files=None,  # written beside the archives, not checked as a step of their own
            smoke_tests=smoke,
            team_tests=team_outcome(evidence.tests.get("team"), evidence.tests.get("tested_at")),
        ),
        approvals=approvals_of(approvals),
    )


def stored_predicate(bucket: RecordBucket, prefix: str, predicate: AdoptionPredicate) -> AdoptionPredicate | None:
    """The record already stored under this predicate's key (a retried promotion, after the pointer moved),
    read for its ``previous_release_id`` only (write_record compares the whole payload); None when absent."""
    key = record_key(prefix, predicate)
    if bucket.head(key) is None:
        return None
    return AdoptionStatement.parse(read_record(bucket, key).payload_bytes()).predicate


def rollback_predicate(recording: Recording, request: RollbackRequest) -> AdoptionPredicate:
    """The target release's newest promotion record in the stage, verified, re-stated as a rollback by ``by``."""
    promotions = [
        r
        for r in list_records(recording.bucket, recording.prefix, request.stage, request.release_id)
        if r.kind is RecordKind.PROMOTION
    ]
    if not promotions:
        raise RecordNotFoundError(
            f"no promotion record of {request.release_id} in stage {request.stage}: nothing to roll back to"
        )
    envelope = read_record(recording.bucket, promotions[-1].key)
    promoted = AdoptionStatement.parse(dsse.verify(envelope, recording.public_key())).predicate
    if promoted.stage != request.stage or promoted.upstream.release_id != request.release_id:
        raise AttestationError(f"{promotions[-1].key} is not a record of {request.release_id} in {request.stage}")
    return promoted.model_copy(
        update={
            "kind": RecordKind.ROLLBACK,
            "recorded_at": request.requested_at,
            "previous_release_id": request.from_release_id,
            "workflow_execution": None,
            "approvals": (Approval(principal=request.by, decided_at=request.requested_at),),
        }
    )


def store_record(recording: Recording, predicate: AdoptionPredicate) -> RecordedResult:
    """Sign and store ``predicate`` write-once, publish the public key (write-once), attach it to every image."""
    # Validated again as a whole: model_copy skips validation, and the statement checks subjects against it.
    statement = AdoptionStatement.of(AdoptionPredicate.model_validate(predicate.model_dump()))
    stored: StoredRecord = write_record(recording.bucket, recording.prefix, statement, recording.signer)
    publish_public_key(recording.bucket, recording.prefix, recording.public_key())
    attached = attach_record(recording.referrers, recording.registry_host, statement, stored.envelope)
    return RecordedResult(key=stored.key, created=stored.created, referrers=attached)
