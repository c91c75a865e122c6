"""The approvals capability's data: who may approve a stage (the rule), and each gate with its votes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from eksd_adopt.approvals.principals import FEDERATED_ARN, counted_as, is_role_arn, role_of_role_arn, role_of_session
from eksd_adopt.findings.gate import FindingsRule


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
    findings: FindingsRule = Field(default_factory=FindingsRule)  # block_on: new findings approvers must accept

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
        """Whom a decision of ``caller_arn`` counts for (see :func:`eksd_adopt.approvals.principals.counted_as`)."""
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
    # The findings this approver accepted (advisory ids, or incomplete-scan): only ones the gate required.
    accepted_findings: list[str] = Field(default_factory=list)


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
