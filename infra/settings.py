"""Deployment settings, read once from CDK context (``cdk deploy -c key=value`` or cdk.json)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from eksd_adopt.approvals.principals import is_role_arn
from eksd_adopt.policy import DEFAULT_TOPIC_ARN


class DeploymentSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    upstream_topic_arn: str = DEFAULT_TOPIC_ARN
    prefix: str = "eksd"
    stages: tuple[str, ...] = ("prod",)
    log_retention_days: int = 365
    # Who may subscribe to the release-events topic (sns:Subscribe only): account ids and/or an organisation.
    subscriber_accounts: tuple[str, ...] = ()
    subscriber_org_id: str | None = Field(default=None, pattern=r"^o-[a-z0-9]{10,32}$")
    # Intake: which channels to adopt (an explicit list wins over "every channel from this minor on").
    tracked_channels: tuple[str, ...] = ()
    track_from_minor: str | None = Field(default="1-30", pattern=r"^[0-9]+-[0-9]+$")  # not \d: Unicode in Rust
    reconcile_minutes: int = Field(default=15, ge=1, le=1440)
    # Approvers outside this account: the endpoint's resource policy admits these accounts or principals
    # (their own identity policies must also allow the endpoint; docs/approvals.md).
    approver_accounts: tuple[str, ...] = ()
    approver_principals: tuple[str, ...] = ()
    # Approver roles whose sessions are distinct people (IAM Identity Center permission-set roles, or a trust
    # policy pinning sts:RoleSessionName): each session counts as one approver. Any other role counts once.
    approver_session_roles: tuple[str, ...] = ()

    @field_validator("approver_accounts")
    @classmethod
    def _approver_account_ids(cls, accounts: tuple[str, ...]) -> tuple[str, ...]:
        bad = [a for a in accounts if not re.fullmatch(r"[0-9]{12}", a, re.ASCII)]
        if bad:
            raise ValueError(f"approverAccounts must be 12-digit AWS account ids, not {', '.join(map(repr, bad))}")
        return accounts

    @field_validator("approver_principals")
    @classmethod
    def _approver_principal_arns(cls, arns: tuple[str, ...]) -> tuple[str, ...]:
        pattern = r"arn:aws:iam::[0-9]{12}:(role|user)/[A-Za-z0-9+=,.@_/-]{1,512}"
        bad = [a for a in arns if not re.fullmatch(pattern, a, re.ASCII)]
        if bad:
            raise ValueError(f"approverPrincipals must be IAM role or user ARNs, not {', '.join(map(repr, bad))}")
        return arns

    @field_validator("subscriber_accounts")
    @classmethod
    def _account_ids(cls, accounts: tuple[str, ...]) -> tuple[str, ...]:
        bad = [a for a in accounts if not re.fullmatch(r"[0-9]{12}", a)]
        if bad:
            raise ValueError(f"subscriberAccounts must be 12-digit AWS account ids, not {', '.join(map(repr, bad))}")
        return accounts

    @field_validator("approver_session_roles")
    @classmethod
    def _role_arns(cls, roles: tuple[str, ...]) -> tuple[str, ...]:
        bad = [r for r in roles if not is_role_arn(r)]
        if bad:
            raise ValueError(f"approverSessionRoles must be IAM role ARNs, not {', '.join(map(repr, bad))}")
        return roles

    @classmethod
    def from_context(cls, node: Any) -> DeploymentSettings:
        """From the construct tree's context; values given as strings on the command line are accepted."""
        values: dict[str, Any] = {}
        for name, field in cls.model_fields.items():
            key = field.alias or _camel(name)
            raw = node.try_get_context(key)
            if raw is None:
                continue
            if field.annotation == tuple[str, ...] and isinstance(raw, str):
                raw = tuple(s.strip() for s in raw.split(",") if s.strip())
            values[name] = raw
        return cls.model_validate(values)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


__all__ = ["DeploymentSettings", "Field"]
