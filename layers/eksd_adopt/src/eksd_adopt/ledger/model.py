"""Ledger records: what is known about each release and where its adoption stands."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


def utcnow() -> datetime:
    return datetime.now(UTC)


class ReleaseStatus(StrEnum):
    DETECTED = "detected"  # heard of, manifest not yet fetched
    INVALID = "invalid"  # manifest failed validation (problems listed); never retried
    SUPERSEDED = "superseded"  # older than the newest adopted release of its channel: not started
    ADOPTING = "adopting"  # workflow started
    MIRRORED = "mirrored"
    VERIFIED = "verified"
    TESTED = "tested"
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    PROMOTED = "promoted"
    FAILED = "failed"


# Statuses from which a release counts as adopted for the "no downgrade" rule.
STARTED_STATUSES = frozenset(
    {
        ReleaseStatus.ADOPTING,
        ReleaseStatus.MIRRORED,
        ReleaseStatus.VERIFIED,
        ReleaseStatus.TESTED,
        ReleaseStatus.AWAITING_APPROVAL,
        ReleaseStatus.APPROVED,
        ReleaseStatus.PROMOTED,
    }
)


class Decision(BaseModel):
    """An approver's decision at a stage gate (who comes from the signed request, never from input)."""

    model_config = ConfigDict(frozen=True)

    stage: str
    approver: str
    decision: str  # approve | reject
    comment: str | None = None
    decided_at: datetime = Field(default_factory=utcnow)
    accepted_findings: list[str] = Field(default_factory=list)  # findings the approver accepted at the gate


class ReleaseRecord(BaseModel):
    release_id: str
    channel: str
    number: int
    status: ReleaseStatus
    kubernetes_version: str | None = None
    manifest_sha256: str | None = None
    manifest_location: str | None = None
    execution_arn: str | None = None
    announced: bool = False  # True when an upstream notification named it (False: found by the reconciler)
    # Whether a notification had named it when its adoption was claimed (a late one sets ``announced`` only).
    claimed_announced: bool | None = None
    message_ids: list[str] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)
    failure_cause: str | None = None
    decisions: list[Decision] = Field(default_factory=list)
    promoted_stages: dict[str, datetime] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    @staticmethod
    def key(channel: str, number: int) -> str:
        return f"{channel}-{number}"
