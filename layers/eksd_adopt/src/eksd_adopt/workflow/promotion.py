"""Workflow step 5b and after: promote a release into a stage, roll a stage back, record how an adoption ended."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel

from eksd_adopt.approvals.errors import NotAnApproverError
from eksd_adopt.approvals.models import ApprovalStatus, StageRule
from eksd_adopt.approvals.ports import ApprovalStore
from eksd_adopt.approvals.principals import principal_matches
from eksd_adopt.attestation.errors import AttestationError
from eksd_adopt.events import EventPublisher, EventType
from eksd_adopt.ledger import Ledger, ReleaseStatus
from eksd_adopt.ledger.model import utcnow
from eksd_adopt.ledger.store import mark_promoted
from eksd_adopt.observability import domain_logger
from eksd_adopt.plan import CopyPlan
from eksd_adopt.workflow.checks import StagedImage, write_stage_manifest
from eksd_adopt.workflow.errors import RollbackError
from eksd_adopt.workflow.manifests import manifest_key, stage_key_of, stage_repository_of
from eksd_adopt.workflow.models import ReleaseRef, StagePointer
from eksd_adopt.workflow.ports import ArtifactPromoter, DocumentStore, ReleasePointers
from eksd_adopt.workflow.publishing import emit
from eksd_adopt.workflow.records import (
    PromotionEvidence,
    Recording,
    RollbackRequest,
    promotion_predicate,
    rollback_predicate,
    store_record,
    stored_predicate,
)

logger = domain_logger()


class PromotionResult(BaseModel):
    """What a promotion did; the blob counts say how the images' blobs reached the stage: mounted from
    staging, re-sent (the registry would not mount them: ECR without BLOB_MOUNTING) or already there."""

    stage: str
    manifest_location: str
    parameter: str
    images: int
    archives: int
    # What the image copies did: mounted from staging, already in the stage, or sent again where the
    # registry refused to mount them (ECR without its BLOB_MOUNTING setting), with the bytes that took.
    blobs_mounted: int = 0
    blobs_skipped: int = 0
    blobs_resent: int = 0
    bytes_resent: int = 0
    record_key: str | None = None  # the signed adoption record, beside the stage's manifest


@dataclass(frozen=True)
class Attestation:
    """What promotion needs to write the signed record: the evidence from the state, the signer and the gate."""

    evidence: PromotionEvidence
    recording: Recording
    approvals: ApprovalStore


def parameter_name(stage: str, channel: str) -> str:
    return f"/eksd-adopt/{stage}/{channel}"


def promote(
    release: ReleaseRef,
    plan: CopyPlan,
    images: list[StagedImage],
    stage: str,
    *,
    promoter: ArtifactPromoter,
    store: DocumentStore,
    pointers: ReleasePointers,
    ledger: Ledger,
    publisher: EventPublisher,
    registry_host: str,
    attestation: Attestation | None = None,
) -> PromotionResult:
    """Copy by digest from staging into ``stage``, write its manifest and its signed record, then point
    consumers at it (without ``attestation``, no record: the handler always passes one).

    The pointer moves last, so a consumer never sees a release whose artifacts are not all in place, nor
    one without its record.
    """
    placed = [
        promoter.promote_image(
            image.repository, stage_repository_of(plan, image.repository, stage), image.digest, image.tag
        )
        for image in images
    ]
    resent = sum(p.resent for p in placed)
    if resent:
        logger.warning(
            "the registry refused blob mounts during promotion; their bytes were sent again",
            extra={"stage": stage, "blobs_resent": resent},
        )
    promoted_archives = [
        archive.model_copy(update={"target_key": stage_key_of(plan, archive.target_key, stage)})
        for archive in plan.archives
    ]
    for archive, promoted in zip(plan.archives, promoted_archives, strict=True):
        promoter.promote_archive(archive.target_key, promoted.target_key)
    promoter.write_checksum_files(promoted_archives)
    location = write_stage_manifest(
        release,
        plan,
        stage,
        images,
        store=store,
        registry_host=registry_host,
        repository_of=lambda r: stage_repository_of(plan, r, stage),
        key_of=lambda k: stage_key_of(plan, k, stage),
    )
    record_key = None
    if attestation is not None:
        record_key = _record_promotion(
            attestation, release, plan, images, stage, store=store, pointers=pointers, location=location
        )
    pointers.put(
        stage,
        StagePointer(
            release_id=release.release_id,
            channel=release.channel,
            number=release.number,
            kubernetes_version=release.kubernetes_version,
            manifest_location=location,
            updated_at=utcnow(),
        ),
    )
    mark_promoted(ledger, release.release_id, stage)
    emit(
        publisher,
        EventType.PROMOTED,
        release,
        stage=stage,
        manifest_location=location,
        images=len(images),
        archives=len(plan.archives),
        parameter=parameter_name(stage, release.channel),
        record_key=record_key,
    )
    return PromotionResult(
        stage=stage,
        manifest_location=location,
        parameter=parameter_name(stage, release.channel),
        images=len(images),
        archives=len(plan.archives),
        blobs_mounted=sum(p.mounted for p in placed),
        blobs_skipped=sum(p.skipped for p in placed),
        blobs_resent=resent,
        bytes_resent=sum(p.bytes_resent for p in placed),
        record_key=record_key,
    )


def _record_promotion(
    attestation: Attestation,
    release: ReleaseRef,
    plan: CopyPlan,
    images: list[StagedImage],
    stage: str,
    *,
    store: DocumentStore,
    pointers: ReleasePointers,
    location: str,
) -> str:
    if release.manifest_location is None:
        raise AttestationError(f"release {release.release_id}: the upstream manifest was not stored")
    recording = attestation.recording
    gate = attestation.approvals.get(release.release_id, stage)
    current = pointers.get(stage, release.channel)
    predicate = promotion_predicate(
        release,
        plan,
        images,
        stage,
        evidence=attestation.evidence,
        upstream_manifest=store.get(release.manifest_location),
        stage_manifest_key=manifest_key(plan.prefix, stage, release.channel, release.number),
        stage_manifest=store.get(location),
        previous_release_id=current.release_id if current is not None else None,
        approvals=gate.votes if gate is not None else [],
        registry_host=recording.registry_host,
    )
    if current is not None and current.release_id == release.release_id:
        # The pointer moved already: a retry after the record was written keeps that record's previous release.
        earlier = stored_predicate(recording.bucket, recording.prefix, predicate)
        if earlier is not None:
            predicate = predicate.model_copy(update={"previous_release_id": earlier.previous_release_id})
    recorded = store_record(recording, predicate)
    logger.info(
        "adoption record stored",
        extra={"record": recorded.key, "written": recorded.created, "referrers": len(recorded.referrers)},
    )
    return recorded.key


def rollback(
    caller_arn: str,
    stage: str,
    channel: str,
    to_number: int,
    *,
    rules: Mapping[str, StageRule],
    ledger: Ledger,
    pointers: ReleasePointers,
    store: DocumentStore,
    publisher: EventPublisher,
    prefix: str,
    records: RollbackRecorder | None = None,
) -> StagePointer:
    """Point ``stage`` back at an earlier release of ``channel`` that was promoted there (and only such a one).

    With ``records`` (the approvers' endpoint always passes it), the rollback's signed record is written
    through the promotion function, the only signer, before the pointer moves.
    """
    rule = rules.get(stage)
    if rule is None or not any(principal_matches(caller_arn, a) for a in rule.approvers):
        raise NotAnApproverError(f"{caller_arn} is not an approver of stage {stage}")
    release_id = f"{channel}-{to_number}"
    record = ledger.get(release_id)
    if record is None or stage not in record.promoted_stages:
        raise RollbackError(f"release {release_id} was never promoted to {stage}; only promoted releases are targets")
    current = pointers.get(stage, channel)
    if current is None:
        raise RollbackError(f"stage {stage} has no release of channel {channel} to roll back from")
    if current.release_id == release_id:
        raise RollbackError(f"stage {stage} already points at {release_id}")
    location = store.location(manifest_key(prefix, stage, channel, to_number))
    store.get(location)  # refuse to point consumers at a manifest that is not there
    record_key = None
    if records is not None:
        record_key = records.record_rollback(
            RollbackRequest(
                stage=stage,
                release_id=release_id,
                from_release_id=current.release_id,
                by=caller_arn,
                requested_at=utcnow(),
            )
        )
    pointer = StagePointer(
        release_id=release_id,
        channel=channel,
        number=to_number,
        kubernetes_version=record.kubernetes_version,
        manifest_location=location,
        updated_at=utcnow(),
    )
    pointers.put(stage, pointer)
    ref = ReleaseRef(
        release_id=release_id, channel=channel, number=to_number, kubernetes_version=record.kubernetes_version
    )
    emit(
        publisher,
        EventType.ROLLED_BACK,
        ref,
        stage=stage,
        manifest_location=location,
        from_release_id=current.release_id,
        by=caller_arn,
        record_key=record_key,
    )
    return pointer


class RollbackRecorder(Protocol):
    """Writes a rollback's signed record where the signing key may be used (the promotion function)."""

    def record_rollback(self, request: RollbackRequest) -> str:
        """Sign, store and attach the record; returns its key."""
        ...


def record_rollback(recording: Recording, request: RollbackRequest) -> str:
    """The promotion function's side of a rollback: the record of going back to ``request.release_id``."""
    recorded = store_record(recording, rollback_predicate(recording, request))
    logger.info("rollback record stored", extra={"record": recorded.key, "written": recorded.created})
    return recorded.key


_OUTCOMES = {
    "failed": (ReleaseStatus.FAILED, EventType.FAILED, ApprovalStatus.CANCELLED),
    "rejected": (ReleaseStatus.REJECTED, EventType.REJECTED, ApprovalStatus.REJECTED),
    "expired": (ReleaseStatus.EXPIRED, EventType.EXPIRED, ApprovalStatus.EXPIRED),
}


class OutcomeRequest(BaseModel):
    """How an adoption ended when it did not end promoted (from the state machine's Catch)."""

    release: ReleaseRef
    outcome: str  # failed | rejected | expired
    stage: str | None = None
    error: dict[str, Any] | None = None  # the Catch's {"Error", "Cause"}


def record_outcome(
    request: OutcomeRequest, *, ledger: Ledger, approvals: ApprovalStore | None, publisher: EventPublisher
) -> dict[str, str]:
    """Ledger status, event and the gate closed; returns the error and cause the Fail state reports."""
    if request.outcome not in _OUTCOMES:
        raise ValueError(f"outcome must be one of {sorted(_OUTCOMES)}, not {request.outcome!r}")
    status, event_type, gate_status = _OUTCOMES[request.outcome]
    error = str((request.error or {}).get("Error") or request.outcome)
    cause = str((request.error or {}).get("Cause") or "")
    release = request.release
    extra: dict[str, Any] = {}
    if request.outcome == "rejected" and request.stage and approvals is not None:
        # The gate's votes say who rejected and why (a callback's cause does not always survive the trip).
        gate = approvals.get(release.release_id, request.stage)
        rejections = [v for v in (gate.votes if gate else []) if v.decision == "reject"]
        if rejections:
            cause = f"rejected by {rejections[-1].approver}: {rejections[-1].comment}"
            extra = {"approver": rejections[-1].approver, "comment": rejections[-1].comment}
    ledger.update(release.release_id, status=status, failure_cause=f"{error}: {cause}"[:2000])
    if request.stage and approvals is not None:
        approvals.close(release.release_id, request.stage, gate_status)
    emit(publisher, event_type, release, stage=request.stage, error=error, cause=cause[:2000], **extra)
    return {"error": error, "cause": f"{release.release_id} {request.outcome}: {error}: {cause}"[:32000]}
