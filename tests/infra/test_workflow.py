"""The workflow construct: the state machine from the ASL file, logging and tracing, scoped grants."""

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
