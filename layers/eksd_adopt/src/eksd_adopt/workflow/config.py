"""Step handlers' configuration: one pydantic model read from the environment per invocation."""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field, model_validator

from eksd_adopt.approvals.models import StageRule
from eksd_adopt.images.settings import TargetRegistrySettings


class WorkflowSettings(TargetRegistrySettings):
    """Names of the resources the steps use; CDK and the local runtime set the same variables."""

    ledger_table: str = Field(alias="LEDGER_TABLE")
    bucket: str = Field(alias="ARCHIVE_BUCKET")
    prefix: str = Field(default="eksd", alias="EKSD_ADOPT_PREFIX")
    events_topic_arn: str | None = Field(default=None, alias="EVENTS_TOPIC_ARN")
    approvals_table: str | None = Field(default=None, alias="APPROVALS_TABLE")
    approvers_topic_arn: str | None = Field(default=None, alias="APPROVERS_TOPIC_ARN")
    stage_rules: dict[str, StageRule] = Field(default_factory=dict, alias="STAGE_RULES")
    # Deployment-wide (context approverSessionRoles): roles whose sessions are distinct people, in every stage's rule.
    approver_session_roles: tuple[str, ...] = Field(default=(), alias="APPROVER_SESSION_ROLES")
    # The adoption record's KMS signing key (the promotion function's alone) and, for the approvers'
    # endpoint, the promotion function it asks to sign a rollback's record.
    attestation_key_arn: str | None = Field(default=None, alias="ATTESTATION_KEY_ARN")
    promote_function: str | None = Field(default=None, alias="PROMOTE_FUNCTION_NAME")

    @model_validator(mode="before")
    @classmethod
    def _rules_with_session_roles(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        roles_key = "APPROVER_SESSION_ROLES" if "APPROVER_SESSION_ROLES" in data else "approver_session_roles"
        roles = data.get(roles_key) or ()
        if isinstance(roles, str):
            roles = tuple(r.strip() for r in roles.split(",") if r.strip())
        data[roles_key] = roles
        rules_key = "STAGE_RULES" if "STAGE_RULES" in data else "stage_rules"
        rules = data.get(rules_key) or {}
        rules = json.loads(rules) if isinstance(rules, str) else rules
        if roles and isinstance(rules, dict):
            # Merged before each rule is validated: a listed session of such a role is then admissible.
            rules = {
                stage: {**rule, "distinct_session_roles": sorted({*rule.get("distinct_session_roles", ()), *roles})}
                if isinstance(rule, dict)
                else rule
                for stage, rule in rules.items()
            }
        data[rules_key] = rules
        return data

    def require(self, name: str) -> str:
        value = getattr(self, name)
        if not value:
            raise ValueError(f"{name.upper()} is not configured for this function")
        return str(value)
