"""The findings construct: the ScanFindings function, wired into the state machine, with exactly the rights it needs."""

from __future__ import annotations

import json
from typing import Any

from infra.constructs.findings import TIMEOUT, WAIT_SECONDS
from tests.infra.conftest import resources_of

HANDLER_METADATA = "eksd-adopt:handler"  # infra.function_factory.HANDLER_METADATA


def _function(template: dict[str, Any], handler_dir: str) -> tuple[str, dict[str, Any]]:
    (found,) = [
        (name, fn)
        for name, fn in resources_of(template, "AWS::Lambda::Function").items()
        if fn.get("Metadata", {}).get(HANDLER_METADATA) == handler_dir
    ]
    return found


def _statements(template: dict[str, Any], function: dict[str, Any]) -> list[dict[str, Any]]:
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    return [
        statement
        for policy in resources_of(template, "AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _text(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return actions if isinstance(actions, list) else [actions]


def test_the_scan_step_is_in_the_state_machine_with_its_function(template_json: dict[str, Any]) -> None:
    name, function = _function(template_json, "findings_scan")
    (machine,) = resources_of(template_json, "AWS::StepFunctions::StateMachine").values()
    substitution = machine["Properties"]["DefinitionSubstitutions"]["ScanFindingsFunctionArn"]
    assert substitution == {"Fn::GetAtt": [name, "Arn"]}
    props = function["Properties"]
    # The wait for scans, plus a margin for the last round and the store, within the function's timeout.
    assert props["Environment"]["Variables"]["FINDINGS_WAIT_SECONDS"] == str(WAIT_SECONDS)
    assert props["Timeout"] == TIMEOUT.to_seconds() >= WAIT_SECONDS + 60


def test_scan_findings_are_read_on_the_staging_repositories_only(template_json: dict[str, Any]) -> None:
    _, function = _function(template_json, "findings_scan")
    statements = _statements(template_json, function)
    ecr = [s for s in statements if any(a.startswith("ecr:") for a in _actions(s))]
    scans = [s for s in ecr if "ecr:DescribeImageScanFindings" in _actions(s)]
    assert len(scans) == 1 and "repository/eksd/staging/*" in _text(scans[0]["Resource"])
    for statement in ecr:
        assert "ecr:GetAuthorizationToken" in _actions(statement) or "repository/eksd/staging/*" in _text(
            statement["Resource"]
        ), statement
        assert not {"ecr:PutImage", "ecr:CreateRepository", "ecr:InitiateLayerUpload"} & set(_actions(statement))
    # Nobody else reads the scans.
    for name, other in resources_of(template_json, "AWS::Lambda::Function").items():
        if other is not function:
            assert "ecr:DescribeImageScanFindings" not in _text(_statements(template_json, other)), name


def test_it_writes_findings_documents_only_and_uses_the_bucket_key_through_s3(template_json: dict[str, Any]) -> None:
    _, function = _function(template_json, "findings_scan")
    statements = _statements(template_json, function)
    puts = [s for s in statements if any(a.startswith("s3:Put") for a in _actions(s))]
    assert len(puts) == 1 and _actions(puts[0]) == ["s3:PutObject"]
    assert _text(puts[0]["Resource"]).endswith('"/eksd/staging/kubernetes-*/kubernetes-*.findings.json"]]}')
    s3 = [a for s in statements for a in _actions(s) if a.startswith("s3:")]
    assert sorted(set(s3)) == ["s3:GetObject", "s3:PutObject"]  # no delete, no list, no grouped actions
    (kms,) = [s for s in statements if any(a.startswith("kms:") for a in _actions(s))]
    assert sorted(_actions(kms)) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert "s3." in _text(kms["Condition"]["StringEquals"]["kms:ViaService"])
    # No table, topic, state machine or SSM rights: the step only reads the registry and the bucket.
    assert not [a for s in statements for a in _actions(s) if a.split(":")[0] in ("dynamodb", "sns", "states", "ssm")]
