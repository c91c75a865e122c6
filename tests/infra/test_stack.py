"""The stack skeleton: every Lambda built by the one factory, cdk-nag clean."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.infra.conftest import resources_of


def test_synth_is_cdk_nag_clean(cloud_assembly: Path) -> None:
    # build_app() registers AwsSolutionsChecks; an unacknowledged violation makes synth raise, so
    # reaching here means clean. Check the plugin really ran and every acknowledgement has a reason.
    report_files = list(cloud_assembly.glob("*.json"))
    assert report_files
    for path in cloud_assembly.glob("*.template.json"):
        body = json.loads(path.read_text())
        for resource in body["Resources"].values():
            for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", []):
                assert rule.get("reason"), rule


def test_every_function_uses_factory_defaults(template_json: dict[str, Any]) -> None:
    functions = resources_of(template_json, "AWS::Lambda::Function")
    assert functions
    for name, function in functions.items():
        props = function["Properties"]
        if "Layers" not in props:  # CDK-internal helper functions (custom resources) are not ours
            continue
        assert props["Architectures"] == ["arm64"], name
        assert props["Runtime"].startswith("python3."), name
        assert props["TracingConfig"] == {"Mode": "Active"}, name
        assert "LoggingConfig" in props, name
        assert props["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == "eksd-adopt"


def test_each_function_has_its_own_role(template_json: dict[str, Any]) -> None:
    roles = [
        f["Properties"]["Role"]["Fn::GetAtt"][0] for f in resources_of(template_json, "AWS::Lambda::Function").values()
    ]
    assert len(roles) == len(set(roles))


def test_log_groups_have_retention(template_json: dict[str, Any]) -> None:
    for name, group in resources_of(template_json, "AWS::Logs::LogGroup").items():
        assert group["Properties"].get("RetentionInDays"), name


def test_no_wildcard_actions(template_json: dict[str, Any]) -> None:
    for name, policy in resources_of(template_json, "AWS::IAM::Policy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert all(a != "*" and not a.endswith(":*") for a in actions), (name, actions)
