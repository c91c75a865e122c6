"""The approvals construct: the table and topic under their key, the signed decision endpoint, stage rules."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infra.conftest import resources_of


def _actions(statement: dict[str, Any]) -> list[str]:
    return statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]


def test_only_the_decision_handler_may_resume_a_gate(template_json: dict[str, Any]) -> None:
    holders = [
        name
        for name, policy in resources_of(template_json, "AWS::IAM::Policy").items()
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if {"states:SendTaskSuccess", "states:SendTaskFailure"} & set(_actions(s))
    ]
    assert len(holders) == 1 and holders[0].startswith("ApprovalsApprovalsApi")


def test_decision_endpoint_requires_iam_auth(template_json: dict[str, Any]) -> None:
    urls = resources_of(template_json, "AWS::Lambda::Url")
    assert [u["Properties"]["AuthType"] for u in urls.values()] == ["AWS_IAM"]


def test_approvals_table_and_topic_use_the_customer_key(template_json: dict[str, Any]) -> None:
    tables = resources_of(template_json, "AWS::DynamoDB::Table")
    (table,) = [t for name, t in tables.items() if name.startswith("ApprovalsTable")]
    assert table["Properties"]["SSESpecification"]["SSEType"] == "KMS"
    assert "KMSMasterKeyId" in table["Properties"]["SSESpecification"]
    keys = {k["AttributeName"]: k["KeyType"] for k in table["Properties"]["KeySchema"]}
    assert keys == {"release_id": "HASH", "stage": "RANGE"}
    (topic,) = [
        t
        for t in resources_of(template_json, "AWS::SNS::Topic").values()
        if t["Properties"].get("DisplayName") == "EKS-D releases awaiting approval"
    ]
    assert "KmsMasterKeyId" in topic["Properties"]


def test_stage_rules_reach_the_decision_handler(template_json: dict[str, Any]) -> None:
    functions = resources_of(template_json, "AWS::Lambda::Function")
    api = next(f for n, f in functions.items() if n.startswith("ApprovalsApprovalsApiFunction"))
    rules = json.loads(api["Properties"]["Environment"]["Variables"]["STAGE_RULES"])
    assert rules == {"prod": {"approvers": [], "required_approvals": 1}}  # no approvers configured: nobody decides


def test_approver_session_roles_reach_the_gate_and_the_decision_handler(template_json: dict[str, Any]) -> None:
    functions = resources_of(template_json, "AWS::Lambda::Function")
    for prefix in ("ApprovalsApprovalsApiFunction", "WorkflowRequestApprovalFunction"):
        env = next(f for n, f in functions.items() if n.startswith(prefix))["Properties"]["Environment"]["Variables"]
        assert env["APPROVER_SESSION_ROLES"] == ""  # none configured: every role counts once


def test_approver_session_roles_from_context_are_role_arns() -> None:
    from infra.settings import DeploymentSettings

    class Node:
        def __init__(self, value: Any) -> None:
            self.value = value

        def try_get_context(self, key: str) -> Any:
            return self.value if key == "approverSessionRoles" else None

    sso = "arn:aws:iam::111111111111:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Approver_0123456789abcdef"
    assert DeploymentSettings.from_context(Node(sso)).approver_session_roles == (sso,)
    with pytest.raises(ValueError, match="approverSessionRoles must be IAM role ARNs"):
        DeploymentSettings.from_context(Node("arn:aws:iam::111111111111:user/alice"))


def test_stage_rules_from_context() -> None:
    from infra.constructs.approvals import stage_rules_from_context

    class Node:
        def __init__(self, value: Any) -> None:
            self.value = value

        def try_get_context(self, key: str) -> Any:
            return self.value if key == "stageApprovers" else None

    given = '{"prod": {"approvers": ["arn:aws:iam::111111111111:role/Approvers"], "required_approvals": 2}}'
    rules = stage_rules_from_context(Node(given), ("prod", "dr"))
    assert rules["prod"]["required_approvals"] == 2
    assert rules["dr"] == {"approvers": [], "required_approvals": 1}
