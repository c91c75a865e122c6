"""The workflow's functions' configuration: one settings model per function, composed from mixins.

Each function reads its own model per invocation (``from_env``); the stack and the local runtime write its
environment with the same model (``to_env``, or ``select_env`` from the workflow's shared values), so a
function is given exactly the variables its model reads (``tests/infra/test_function_settings.py``).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field, model_validator

from eksd_adopt.approvals.models import StageRule
from eksd_adopt.images.settings import TargetRegistrySettings
from eksd_adopt.settings import EnvSettings, UpstreamAccessSettings


class _Required(EnvSettings):
    def require(self, name: str) -> str:
        value = getattr(self, name)
        if not value:
            raise ValueError(f"{name.upper()} is not configured for this function")
        return str(value)


class LedgerSettings(_Required):
    ledger_table: str = Field(alias="LEDGER_TABLE")


class DocumentsSettings(_Required):
    """The bucket the workflow's documents and archives live in, and the service prefix inside it."""

    bucket: str = Field(alias="ARCHIVE_BUCKET")
    prefix: str = Field(default="eksd", alias="EKSD_ADOPT_PREFIX")


class EventsSettings(_Required):
    events_topic_arn: str | None = Field(default=None, alias="EVENTS_TOPIC_ARN")


class StagedArtifactsSettings(DocumentsSettings, TargetRegistrySettings):
    """What reading (and promoting) the staged copy needs: the bucket and the private registry."""


class ApprovalsSettings(_Required):
    """The approvals table, the approvers' topic and the stage rules."""

    approvals_table: str | None = Field(default=None, alias="APPROVALS_TABLE")
    approvers_topic_arn: str | None = Field(default=None, alias="APPROVERS_TOPIC_ARN")
    stage_rules: dict[str, StageRule] = Field(default_factory=dict, alias="STAGE_RULES")
    # Deployment-wide (context approverSessionRoles): roles whose sessions are distinct people, in every stage's rule.
    approver_session_roles: tuple[str, ...] = Field(default=(), alias="APPROVER_SESSION_ROLES")

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


# --- one model per function -------------------------------------------------------------------


class ValidateSettings(LedgerSettings, DocumentsSettings, UpstreamAccessSettings):
    """workflow_validate: fetches the manifest (upstream access), stores it, plans, updates the ledger."""


class VerifySettings(LedgerSettings, EventsSettings, StagedArtifactsSettings):
    """workflow_verify."""


class SmokeTestSettings(StagedArtifactsSettings):
    """workflow_smoke_test."""


class RecordTestedSettings(LedgerSettings, EventsSettings):
    """workflow_record_tested."""


class RequestApprovalSettings(LedgerSettings, EventsSettings, DocumentsSettings, ApprovalsSettings):
    """approvals_request: opens a gate (the stage's pointer and documents, the approvers' topic)."""


class PromoteSettings(LedgerSettings, EventsSettings, ApprovalsSettings, StagedArtifactsSettings):
    """workflow_promote: also signs the adoption record with the key only it may use."""

    attestation_key_arn: str | None = Field(default=None, alias="ATTESTATION_KEY_ARN")


class RecordOutcomeSettings(LedgerSettings, EventsSettings, ApprovalsSettings):
    """workflow_record_outcome."""


class ApprovalsApiSettings(LedgerSettings, EventsSettings, DocumentsSettings, ApprovalsSettings):
    """approvals_api: decides gates and rolls back; a rollback's record is signed by the promotion function."""

    promote_function: str | None = Field(default=None, alias="PROMOTE_FUNCTION_NAME")
