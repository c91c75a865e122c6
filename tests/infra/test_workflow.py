"""The workflow and approvals constructs: the state machine from the ASL file, logging and tracing, scoped grants."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import resources_of

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

REPO = Path(__file__).resolve().parents[2]
ASL = REPO / "infra" / "workflows" / "adopt_release.asl.json"


@pytest.fixture(scope="session")
def workflow_template(template_json: dict[str, Any]) -> dict[str, Any]:
    """The whole stack's template (synthesized once per session, cdk-nag on): the workflow is composed there."""
    return template_json


def _state_machine(template: dict[str, Any]) -> dict[str, Any]:
    machines = resources_of(template, "AWS::StepFunctions::StateMachine")
    assert len(machines) == 1
    return next(iter(machines.values()))["Properties"]


def test_state_machine_is_named_and_built_from_the_asl_file(workflow_template: dict[str, Any]) -> None:
    props = _state_machine(workflow_template)
    assert props["StateMachineName"] == "eksd-adopt-release"
    placeholders = set(re.findall(r"\$\{(\w+)\}", ASL.read_text()))
    assert placeholders <= set(props["DefinitionSubstitutions"])
    assert props["DefinitionSubstitutions"]["Stages"] == "prod"


def test_logging_all_events_without_execution_data_to_an_encrypted_group_and_tracing_on(
    workflow_template: dict[str, Any],
) -> None:
    props = _state_machine(workflow_template)
    assert props["TracingConfiguration"] == {"Enabled": True}
    assert props["LoggingConfiguration"]["Level"] == "ALL"
    # Execution data holds the gates' task tokens: whoever reads the logs could open a gate.
    assert props["LoggingConfiguration"]["IncludeExecutionData"] is False
    group_ref = props["LoggingConfiguration"]["Destinations"][0]["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][
        0
    ]
    group = workflow_template["Resources"][group_ref]["Properties"]
    assert "KmsKeyId" in group and group["RetentionInDays"]


def _policies_of_role(template: dict[str, Any], role_id: str) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = []
    for policy in resources_of(template, "AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return statements


def _actions(statement: dict[str, Any]) -> list[str]:
    return statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]


def test_state_machine_role_invokes_exactly_its_functions(workflow_template: dict[str, Any]) -> None:
    role_id = _state_machine(workflow_template)["RoleArn"]["Fn::GetAtt"][0]
    invoke = [s for s in _policies_of_role(workflow_template, role_id) if "lambda:InvokeFunction" in _actions(s)]
    resources = [r for s in invoke for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])]
    assert resources and all("*" not in json.dumps(r) for r in resources)
    invoked = {r["Fn::GetAtt"][0] for r in resources}
    substituted = {
        v["Fn::GetAtt"][0]
        for v in _state_machine(workflow_template)["DefinitionSubstitutions"].values()
        if isinstance(v, dict)
    }
    assert invoked == substituted  # every function in the definition, and nothing else


def test_only_the_decision_handler_may_resume_a_gate(workflow_template: dict[str, Any]) -> None:
    holders = [
        name
        for name, policy in resources_of(workflow_template, "AWS::IAM::Policy").items()
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if {"states:SendTaskSuccess", "states:SendTaskFailure"} & set(_actions(s))
    ]
    assert len(holders) == 1 and holders[0].startswith("ApprovalsApi")


def test_decision_endpoint_requires_iam_auth(workflow_template: dict[str, Any]) -> None:
    urls = resources_of(workflow_template, "AWS::Lambda::Url")
    assert [u["Properties"]["AuthType"] for u in urls.values()] == ["AWS_IAM"]


def test_approvals_table_and_topic_use_the_customer_key(workflow_template: dict[str, Any]) -> None:
    tables = resources_of(workflow_template, "AWS::DynamoDB::Table")
    (table,) = [t for name, t in tables.items() if name.startswith("ApprovalsTable")]
    assert table["Properties"]["SSESpecification"]["SSEType"] == "KMS"
    assert "KMSMasterKeyId" in table["Properties"]["SSESpecification"]
    keys = {k["AttributeName"]: k["KeyType"] for k in table["Properties"]["KeySchema"]}
    assert keys == {"release_id": "HASH", "stage": "RANGE"}
    (topic,) = [
        t
        for t in resources_of(workflow_template, "AWS::SNS::Topic").values()
        if t["Properties"].get("DisplayName") == "EKS-D releases awaiting approval"
    ]
    assert "KmsMasterKeyId" in topic["Properties"]


def test_stage_rules_reach_the_decision_handler(workflow_template: dict[str, Any]) -> None:
    functions = resources_of(workflow_template, "AWS::Lambda::Function")
    api = next(f for n, f in functions.items() if n.startswith("ApprovalsApiFunction"))
    rules = json.loads(api["Properties"]["Environment"]["Variables"]["STAGE_RULES"])
    assert rules == {"prod": {"approvers": [], "required_approvals": 1}}  # no approvers configured: nobody decides


def test_approver_session_roles_reach_the_gate_and_the_decision_handler(workflow_template: dict[str, Any]) -> None:
    functions = resources_of(workflow_template, "AWS::Lambda::Function")
    for prefix in ("ApprovalsApiFunction", "RequestApprovalFunction"):
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


def test_promotion_may_create_stage_repositories_with_the_ecr_key(template_json: dict[str, Any]) -> None:
    promote = [
        f
        for f in template_json["Resources"].values()
        if f["Type"] == "AWS::Lambda::Function" and "Promote" in f["Properties"].get("Description", "")
    ]
    assert len(promote) == 1
    variables = promote[0]["Properties"]["Environment"]["Variables"]
    assert variables["ECR_CONTROL_PLANE"] == "true" and "ECR_KMS_KEY_ARN" in variables
    role = promote[0]["Properties"]["Role"]["Fn::GetAtt"][0]
    statements = [
        s
        for p in template_json["Resources"].values()
        if p["Type"] == "AWS::IAM::Policy" and {"Ref": role} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    kms = [s for s in statements if "kms:CreateGrant" in s["Action"]]
    assert kms and all("ecr." in str(s["Condition"]) for s in kms)
    actions = {a for s in statements for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    assert {"ecr:CreateRepository", "ecr:PutLifecyclePolicy"} <= actions
