"""Release events: one versioned pydantic model per event type, a discriminated union on ``event_type``.

Every event carries the same common fields (which release, which channel, which stage) and a
``detail`` object whose shape depends on the event type. The JSON Schema of each model is
generated into ``schemas/`` and checked in; ``docs/events.md`` shows an example of each.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, Self, cast
from uuid import uuid4

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from eksd_adopt.findings.summary import FindingsSummary
from eksd_adopt.shapes import STAGE

# Bump only for a breaking change (a field removed, renamed or retyped); new optional fields keep it.
SCHEMA_VERSION: Literal["1"] = "1"

CHANNEL_PATTERN = r"^[1-9][0-9]*-(0|[1-9][0-9]*)$"
RELEASE_ID_PATTERN = r"^[1-9][0-9]*-(0|[1-9][0-9]*)-[1-9][0-9]*$"
KUBERNETES_MINOR_PATTERN = r"^[1-9][0-9]*\.(0|[1-9][0-9]*)$"
STAGE_PATTERN = rf"^{STAGE.pattern}$"
# SNS message attributes cannot be empty, so an event without a stage says so with this word;
# it is therefore not a valid stage name.
NO_STAGE = "none"
SHA256_PATTERN = r"^[0-9a-f]{64}$"


class EventType(StrEnum):
    DETECTED = "release.detected"
    MIRRORED = "release.mirrored"
    VERIFIED = "release.verified"
    TESTED = "release.tested"
    AWAITING_APPROVAL = "release.awaiting_approval"
    APPROVED = "release.approved"
    REJECTED = "release.rejected"
    EXPIRED = "release.expired"
    PROMOTED = "release.promoted"
    ROLLED_BACK = "release.rolled_back"
    FAILED = "release.failed"
    NOTIFICATION_MISSED = "notification.missed"


def kubernetes_minor_of(channel: str) -> str:
    """``1-30`` -> ``1.30``: a channel is the release branch of one Kubernetes minor."""
    return channel.replace("-", ".", 1)


def _drop_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def _utcnow() -> datetime:
    return datetime.now(UTC)


# ----- details: what each event is about -------------------------------------------------------------
class EventDetail(BaseModel):
    """Base of every ``detail`` object; unknown keys are refused so a typo fails where it is made."""

    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_serialization_defaults_required=True)

    def __getitem__(self, key: str) -> Any:
        # Lets code written against the seed's ``detail: dict`` keep reading ``event.detail["key"]``.
        if key not in type(self).model_fields:
            raise KeyError(key)
        return getattr(self, key)


class DetectedDetail(EventDetail):
    announced: bool = Field(
        default=False, description="True when an upstream SNS notification announced it; false when a poll found it."
    )
    execution_arn: str | None = Field(default=None, description="The adoption workflow execution started for it.")
    manifest_url: str | None = Field(default=None, description="Where the upstream manifest was read.")
    manifest_sha256: str | None = Field(
        default=None, pattern=SHA256_PATTERN, description="sha256 of the manifest bytes read."
    )


class MirroredDetail(EventDetail):
    images: int = Field(ge=0, description="Images copied into the staging registry.")
    archives: int = Field(ge=0, description="Archives copied into the staging prefix.")
    bytes: int | None = Field(default=None, ge=0, description="Bytes copied, when known.")


class VerifiedDetail(EventDetail):
    checks: int = Field(ge=0, description="Checks run against the staged copy (all passed).")
    images: int | None = Field(default=None, ge=0, description="Images verified.")
    archives: int | None = Field(default=None, ge=0, description="Archives verified.")
    bytes: int | None = Field(default=None, ge=0, description="Bytes verified, when known.")


class TestedDetail(EventDetail):
    __test__ = False  # not a pytest test class, whatever its name says

    smoke: dict[str, Any] = Field(description="Summary of the built-in smoke tests.")
    team: dict[str, Any] | None = Field(default=None, description="Summary of the team-supplied test step, if any.")


class AwaitingApprovalDetail(EventDetail):
    diff: dict[str, Any] | None = Field(default=None, description="What changes in the stage if approved.")
    expires_at: datetime | None = Field(default=None, description="When the gate expires unless decided.")
    required_approvals: int | None = Field(default=None, ge=1, description="Distinct approvers needed.")
    findings: FindingsSummary | None = Field(
        default=None,
        description="Vulnerability findings of the release's images: counts by severity per image, new and fixed "
        "against the release the stage runs, scans that did not complete. Null when the release was not scanned "
        "(never an empty summary).",
    )


class ApprovedDetail(EventDetail):
    approvers: list[str] = Field(min_length=1, description="Principal ARNs of the approvers, in the order they voted.")
    comment: str | None = Field(default=None, description="The deciding approver's comment.")


class RejectedDetail(EventDetail):
    approver: str | None = Field(default=None, description="Principal ARN of the approver who rejected.")
    comment: str | None = Field(default=None, description="The approver's reason.")
    error: str | None = Field(default=None, description="Error name reported by the workflow.")
    cause: str | None = Field(default=None, description="Cause reported by the workflow.")


class ExpiredDetail(EventDetail):
    expires_at: datetime | None = Field(default=None, description="When the gate expired.")
    error: str | None = Field(default=None, description="Error name reported by the workflow, e.g. States.Timeout.")
    cause: str | None = Field(default=None, description="Cause reported by the workflow.")


class PromotedDetail(EventDetail):
    images: int | None = Field(default=None, ge=0, description="Images promoted into the stage.")
    archives: int | None = Field(default=None, ge=0, description="Archives promoted into the stage.")
    bytes: int | None = Field(default=None, ge=0, description="Bytes the promoted release holds, when known.")
    parameter: str | None = Field(default=None, description="SSM parameter now pointing at this release.")
    record_key: str | None = Field(
        default=None,
        description="Object key of the signed adoption record (DSSE, in-toto) in the artifacts bucket; "
        "see docs/attestation.md.",
    )


class RolledBackDetail(EventDetail):
    from_release_id: str = Field(description="The release the stage pointed at before the rollback.")
    by: str = Field(description="Principal ARN of whoever rolled back.")
    record_key: str | None = Field(
        default=None, description="Object key of the rollback's signed adoption record in the artifacts bucket."
    )


class FailedDetail(EventDetail):
    error: str = Field(description="Error name, e.g. ImageCopyError, States.TaskFailed.")
    cause: str = Field(default="", max_length=2000, description="Failure cause (truncated to 2000 characters).")
    step: str | None = Field(default=None, description="The workflow step that failed, when known.")


class NotificationMissedDetail(EventDetail):
    outcome: str = Field(description="What the reconciler did about it (started, superseded, invalid).")
    first_seen: datetime | None = Field(default=None, description="When the release was first seen.")


# ----- the events -----------------------------------------------------------------------------------
class ReleaseEvent(BaseModel):
    """Common fields of every release event; ``ReleaseEvent(event_type=..., ...)`` builds the type's own model."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        # Subscribers always receive every field, so the published schema lists them all as required.
        json_schema_serialization_defaults_required=True,
    )

    stage_required: ClassVar[bool] = False

    schema_version: Literal["1"] = Field(default=SCHEMA_VERSION, description="Version of this event's schema.")
    event_id: str = Field(
        default_factory=lambda: str(uuid4()), description="Unique id of this event (deduplicate on it)."
    )
    event_type: EventType = Field(description="What happened; also the `event_type` message attribute.")
    occurred_at: AwareDatetime = Field(default_factory=_utcnow, description="When it happened (UTC).")
    release_id: str = Field(pattern=RELEASE_ID_PATTERN, description="`<channel>-<number>`, e.g. 1-30-58.")
    channel: str = Field(pattern=CHANNEL_PATTERN, description="EKS-D release channel, e.g. 1-30.")
    number: int = Field(ge=1, description="Release number within the channel.")
    kubernetes_version: str | None = Field(default=None, description="Kubernetes version, e.g. v1.30.9.")
    kubernetes_minor: str = Field(
        default="",  # filled from the channel before validation; never published empty
        pattern=KUBERNETES_MINOR_PATTERN,
        description="Kubernetes minor, e.g. 1.30 (derived from the channel).",
        json_schema_extra=_drop_default,
    )
    stage: str | None = Field(
        default=None, pattern=STAGE_PATTERN, description="The stage concerned (e.g. staging, prod), if any."
    )
    manifest_location: str | None = Field(default=None, description="URI of the release manifest concerned.")
    detail: EventDetail = Field(default_factory=EventDetail, description="What this event is about.")

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        # Code that builds ``ReleaseEvent(event_type=X, ...)`` gets X's own model, validated as such
        # (the same as make_event); pydantic then runs that model's __init__ on the instance.
        model = _model_for(kwargs["event_type"]) if cls is ReleaseEvent and "event_type" in kwargs else cls
        return cast(Self, super().__new__(model))

    @model_validator(mode="before")
    @classmethod
    def _derive_minor(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and not data.get("kubernetes_minor") and isinstance(data.get("channel"), str):
            return {**data, "kubernetes_minor": kubernetes_minor_of(data["channel"])}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if type(self) is ReleaseEvent:
            raise ValueError("build events with make_event() or an event type's own model, not the base class")
        if self.release_id != f"{self.channel}-{self.number}":
            raise ValueError(f"release_id {self.release_id!r} is not <channel>-<number> ({self.channel}-{self.number})")
        if self.kubernetes_minor != kubernetes_minor_of(self.channel):
            raise ValueError(f"kubernetes_minor {self.kubernetes_minor!r} does not match channel {self.channel!r}")
        if self.stage == NO_STAGE:
            raise ValueError(f"stage {NO_STAGE!r} is reserved for events without a stage; leave stage unset")
        if self.stage_required and self.stage is None:
            raise ValueError(f"{self.event_type.value} needs a stage")
        return self

    def message_attributes(self) -> dict[str, str]:
        """The four SNS message attributes subscribers filter on (``stage`` is ``none`` when there is none)."""
        return {
            "event_type": self.event_type.value,
            "channel": self.channel,
            "kubernetes_minor": self.kubernetes_minor,
            "stage": self.stage or NO_STAGE,
        }

    def subject(self) -> str:
        """A short line for email subscribers (SNS subjects: ASCII, at most 100 characters)."""
        where = f" ({self.stage})" if self.stage else ""
        text = f"EKS-D {self.release_id} {self.event_type.value}{where}"
        return text.encode("ascii", "replace").decode()[:100]


class ReleaseDetected(ReleaseEvent):
    """A new release was found (announced or polled) and its adoption started."""

    event_type: Literal[EventType.DETECTED] = EventType.DETECTED
    detail: DetectedDetail = Field(default_factory=DetectedDetail)


class ReleaseMirrored(ReleaseEvent):
    """Every image and archive of the release was copied into staging."""

    event_type: Literal[EventType.MIRRORED] = EventType.MIRRORED
    detail: MirroredDetail


class ReleaseVerified(ReleaseEvent):
    """Every staged artifact was re-checked against the manifest; the staged manifest was written."""

    event_type: Literal[EventType.VERIFIED] = EventType.VERIFIED
    detail: VerifiedDetail


class ReleaseTested(ReleaseEvent):
    """The smoke tests (and the team's test step, if any) passed on the staged copy."""

    __test__ = False

    event_type: Literal[EventType.TESTED] = EventType.TESTED
    detail: TestedDetail


class ReleaseAwaitingApproval(ReleaseEvent):
    """A stage's approval gate opened: approvers are asked to decide."""

    stage_required: ClassVar[bool] = True
    event_type: Literal[EventType.AWAITING_APPROVAL] = EventType.AWAITING_APPROVAL
    detail: AwaitingApprovalDetail = Field(default_factory=AwaitingApprovalDetail)


class ReleaseApproved(ReleaseEvent):
    """Enough distinct approvers approved the release for a stage."""

    stage_required: ClassVar[bool] = True
    event_type: Literal[EventType.APPROVED] = EventType.APPROVED
    detail: ApprovedDetail


class ReleaseRejected(ReleaseEvent):
    """An approver rejected the release for a stage; the adoption ended."""

    event_type: Literal[EventType.REJECTED] = EventType.REJECTED
    detail: RejectedDetail = Field(default_factory=RejectedDetail)


class ReleaseExpired(ReleaseEvent):
    """A stage's approval gate timed out; the adoption ended."""

    event_type: Literal[EventType.EXPIRED] = EventType.EXPIRED
    detail: ExpiredDetail = Field(default_factory=ExpiredDetail)


class ReleasePromoted(ReleaseEvent):
    """The release was promoted into a stage: its manifest and artifacts are there to use."""

    stage_required: ClassVar[bool] = True
    event_type: Literal[EventType.PROMOTED] = EventType.PROMOTED
    detail: PromotedDetail = Field(default_factory=PromotedDetail)


class ReleaseRolledBack(ReleaseEvent):
    """A stage was pointed back at this (earlier, promoted) release."""

    stage_required: ClassVar[bool] = True
    event_type: Literal[EventType.ROLLED_BACK] = EventType.ROLLED_BACK
    detail: RolledBackDetail


class ReleaseFailed(ReleaseEvent):
    """The adoption failed; nothing unverified was promoted."""

    event_type: Literal[EventType.FAILED] = EventType.FAILED
    detail: FailedDetail


class NotificationMissed(ReleaseEvent):
    """The reconciler found a release upstream never announced (and adopted it)."""

    event_type: Literal[EventType.NOTIFICATION_MISSED] = EventType.NOTIFICATION_MISSED
    detail: NotificationMissedDetail


EVENT_MODELS: dict[EventType, type[ReleaseEvent]] = {
    EventType.DETECTED: ReleaseDetected,
    EventType.MIRRORED: ReleaseMirrored,
    EventType.VERIFIED: ReleaseVerified,
    EventType.TESTED: ReleaseTested,
    EventType.AWAITING_APPROVAL: ReleaseAwaitingApproval,
    EventType.APPROVED: ReleaseApproved,
    EventType.REJECTED: ReleaseRejected,
    EventType.EXPIRED: ReleaseExpired,
    EventType.PROMOTED: ReleasePromoted,
    EventType.ROLLED_BACK: ReleaseRolledBack,
    EventType.FAILED: ReleaseFailed,
    EventType.NOTIFICATION_MISSED: NotificationMissed,
}

AnyReleaseEvent = Annotated[
    ReleaseDetected
    | ReleaseMirrored
    | ReleaseVerified
    | ReleaseTested
    | ReleaseAwaitingApproval
    | ReleaseApproved
    | ReleaseRejected
    | ReleaseExpired
    | ReleasePromoted
    | ReleaseRolledBack
    | ReleaseFailed
    | NotificationMissed,
    Field(discriminator="event_type"),
]
_ANY_EVENT: TypeAdapter[AnyReleaseEvent] = TypeAdapter(AnyReleaseEvent)


def _model_for(event_type: EventType | str) -> type[ReleaseEvent]:
    try:
        return EVENT_MODELS[EventType(event_type)]
    except ValueError:
        valid = ", ".join(t.value for t in EventType)
        raise ValueError(f"unknown event type {event_type!r}; valid: {valid}") from None


def make_event(
    event_type: EventType | str,
    *,
    release_id: str,
    channel: str,
    number: int,
    kubernetes_version: str | None = None,
    stage: str | None = None,
    manifest_location: str | None = None,
    occurred_at: datetime | None = None,
    event_id: str | None = None,
    **detail: Any,
) -> ReleaseEvent:
    """Build the event of ``event_type``, its ``detail`` validated against that type's model (ValidationError if not)."""
    model = _model_for(event_type)
    fields: dict[str, Any] = {
        "release_id": release_id,
        "channel": channel,
        "number": number,
        "kubernetes_version": kubernetes_version,
        "stage": stage,
        "manifest_location": manifest_location,
        "detail": detail,
    }
    if occurred_at is not None:
        fields["occurred_at"] = occurred_at
    if event_id is not None:
        fields["event_id"] = event_id
    return model.model_validate(fields)


def parse_event(data: str | bytes | Mapping[str, Any]) -> ReleaseEvent:
    """A received event (JSON text or a decoded object) as its type's model; ValidationError if it is not one."""
    if isinstance(data, str | bytes):
        return _ANY_EVENT.validate_json(data)
    return _ANY_EVENT.validate_python(data)
