"""The stack turns on ECR's BLOB_MOUNTING registry setting, with a role that may do that and nothing else."""

from __future__ import annotations

import json
from typing import Any

import botocore.session

from tests.infra.conftest import resources_of


def _setting(template_json: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    (found,) = [
        (name, resource)
        for name, resource in resources_of(template_json, "Custom::AWS").items()
        if name.startswith("RegistryBlobMounting")
    ]
    return found


def test_deploy_enables_blob_mounting_and_delete_leaves_it(template_json: dict[str, Any]) -> None:
    _, setting = _setting(template_json)
    create = json.loads(setting["Properties"]["Create"])
    assert json.loads(setting["Properties"]["Update"]) == create
    assert (create["service"], create["action"]) == ("ECR", "PutAccountSetting")
    assert create["parameters"] == {"name": "BLOB_MOUNTING", "value": "ENABLED"}
    assert "Delete" not in setting["Properties"]  # account-wide: other workloads may rely on it


def test_the_call_matches_ecrs_api_model() -> None:
    # The same operation and member names as botocore's ECR service model (what the SDK sends).
    operation = botocore.session.get_session().get_service_model("ecr").operation_model("PutAccountSetting")
    assert operation.http["method"] == "POST"
    assert set(operation.input_shape.required_members) == {"name", "value"}
    assert "BLOB_MOUNTING" in operation.input_shape.members["name"].documentation


def test_only_put_account_setting_is_granted_to_the_setting_function(template_json: dict[str, Any]) -> None:
    name, setting = _setting(template_json)
    function_id = setting["Properties"]["ServiceToken"]["Fn::GetAtt"][0]
    function = resources_of(template_json, "AWS::Lambda::Function")[function_id]
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    role = resources_of(template_json, "AWS::IAM::Role")[role_id]
    assert not role["Properties"].get("ManagedPolicyArns")  # no account-wide basic execution policy
    policies = [
        p
        for p in resources_of(template_json, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
    ]
    statements = [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]]
    ecr = [s for s in statements if "ecr:" in json.dumps(s["Action"])]
    assert ecr == [{"Action": "ecr:PutAccountSetting", "Effect": "Allow", "Resource": "*"}]
    logs = [s for s in statements if s not in ecr]
    assert all(a.startswith("logs:") for s in logs for a in s["Action"])
    assert all("RegistryBlobMountingLogs" in json.dumps(s["Resource"]) for s in logs)
    # The setting is put only once its policy exists.
    assert any(d.startswith("RegistryBlobMountingSettingCustomResourcePolicy") for d in setting["DependsOn"]), name
