"""The adoption workflow's data: its input, the release it carries, stage rules, and each step's result."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from eksd_adopt.workflow.principals import FEDERATED_ARN, counted_as, is_role_arn, role_of_role_arn, role_of_session

STAGING = "staging"


class WorkflowInput(BaseModel):
    """What the intake starts an adoption with (execution name ``adopt-<release_id>``)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    release_id: str
    channel: str
    number: int
    kubernetes_version: str | None = None
    manifest_url: str
    manifest_sha256: str
    manifest_yaml: str | None = None  # left out, Validate fetches manifest_url (large manifests: 256 KiB input quota)
    announced: bool = False


class ReleaseRef(BaseModel):
    """A release as the workflow's state carries it between steps (small: no manifest text)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    release_id: str
    channel: str
    number: int
    kubernetes_version: str | None = None
    manifest_url: str | None = None
    manifest_location: str | None = None  # s3:// URI of the upstream manifest, stored write-once


class CheckResult(BaseModel):
    """One check of one artifact: what was expected, what was found."""

    model_config = ConfigDict(frozen=True)

    artifact: str
    check: str
    ok: bool
    detail: str = ""


class CheckReport(BaseModel):
    """The outcome of verification or of the smoke tests: every check made, failures first."""

    name: str
    checks: list[CheckResult] = Field(default_factory=list)

    @property
    def failures(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.ok]

    @property
    def ok(self) -> bool:
        return not self.failures

    def summary(self) -> dict[str, object]:
        """Small enough for the workflow state, events and the approvers' message."""
        return {
            "name": self.name,
            "ok": self.ok,
            "checks": len(self.checks),
            "failed": len(self.failures),
            "failures": [c.model_dump() for c in self.failures[:20]],
        }


class StageRule(BaseModel):
    """Who may approve promotion into a stage, how many distinct approvers it takes, and who counts as one.

    An IAM user counts once. A role counts once, whatever its session names, since whoever assumes
    it picks the session name; only a role listed in ``distinct_session_roles`` (its sessions are
    distinct people: IAM Identity Center, or a trust policy pinning ``sts:RoleSessionName``) has
    each session count as one approver.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    approvers: tuple[str, ...]  # IAM principal ARNs: users, roles (any session of the role), sessions of the below
    required_approvals: int = Field(default=1, ge=1)
    distinct_session_roles: tuple[str, ...] = ()  # role ARNs whose sessions are distinct people

    @field_validator("distinct_session_roles")
    @classmethod
    def _roles(cls, roles: tuple[str, ...]) -> tuple[str, ...]:
        bad = [r for r in roles if not is_role_arn(r)]
        if bad:
            raise ValueError(f"distinct_session_roles must be IAM role ARNs, not {', '.join(map(repr, bad))}")
        return roles

    @model_validator(mode="after")
    def _sessions_only_of_distinct_roles(self) -> StageRule:
        for approver in self.approvers:
            if FEDERATED_ARN.fullmatch(approver):
                raise ValueError(
                    f"approver {approver} is a federated user, named by whoever requests it: list a user or role"
                )
            role = role_of_session(approver)
            if role is not None and not any(role_of_role_arn(r) == role for r in self.distinct_session_roles):
                raise ValueError(
                    f"approver {approver} is a session of role {role.arn}, whose sessions anyone assuming it may name: "
                    "list the role, or add it to distinct_session_roles if its sessions are distinct people"
                )
        return self

    def counted_as(self, caller_arn: str) -> str:
        """Whom a decision of ``caller_arn`` counts for (see :func:`eksd_adopt.workflow.principals.counted_as`)."""
        return counted_as(caller_arn, self.distinct_session_roles)


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class ApprovalVote(BaseModel):
    model_config = ConfigDict(frozen=True)

    approver: str  # the signed caller's ARN, as the audit trail shows it
    counted_as: str | None = None  # whom the vote counts for (StageRule.counted_as); None in votes before it
    decision: str  # approve | reject
    comment: str | None = None
    decided_at: datetime


class ApprovalRequest(BaseModel):
    """A pending gate: the release, the stage, the callback token and what approvers are shown."""

    release_id: str
    stage: str
    channel: str
    number: int
    kubernetes_version: str | None = None
    task_token: str = ""  # removed from the table once the gate closes
    status: ApprovalStatus = ApprovalStatus.PENDING
    required_approvals: int = 1
    requested_at: datetime
    expires_at: datetime | None = None
    votes: list[ApprovalVote] = Field(default_factory=list)
    summary: dict[str, object] = Field(default_factory=dict)

    def approvers(self) -> set[str]:
        """The distinct approvers so far: a role's sessions are one unless the rule said otherwise."""
        return {v.counted_as or v.approver for v in self.votes if v.decision == "approve"}


class ComponentChange(BaseModel):
    model_config = ConfigDict(frozen=True)

    component: str
    before: str | None  # gitTag in the release currently promoted, None when added
    after: str | None  # gitTag in this release, None when removed


class ReleaseDiff(BaseModel):
    """What changes in a stage if this release is promoted there."""

    current_release_id: str | None
    added: list[ComponentChange] = Field(default_factory=list)
    removed: list[ComponentChange] = Field(default_factory=list)
    changed: list[ComponentChange] = Field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


class StagePointer(BaseModel):
    """The SSM parameter value naming a stage's current release of a channel."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    release_id: str
    channel: str
    number: int
    kubernetes_version: str | None = None
    manifest_location: str
    updated_at: datetime | None = None
