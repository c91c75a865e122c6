"""Least privilege, asserted over the whole synthesized stack (generic: every construct added later is held to it).

- no ``*`` or ``service:*`` action in any identity policy; the few grouped actions CDK's grants use are listed;
- ``Resource: "*"`` only for actions that accept no resource-level permission, each listed with why;
- every function has a role of its own that only Lambda can assume; no broad AWS managed policies;
- KMS key policies delegate to the account (IAM decides) and admit services only under conditions;
- resource policies admit nobody anonymously; S3 buckets block public access and refuse plain HTTP;
- cdk-nag AwsSolutions ran, found nothing unacknowledged, and every acknowledgement has a reason.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import resources_of

# Actions that accept no resource-level permission in IAM, so "*" is the narrowest resource possible.
# Each is listed that way (an empty "Resource types" column) in the Service Authorization Reference,
# https://docs.aws.amazon.com/service-authorization/latest/reference/ list_<service>.html; an action
# the reference gives a resource type (logs:DescribeLogGroups takes log-group) must be scoped instead.
RESOURCE_STAR_ACTIONS = {
    # X-Ray tracing (Lambda active tracing, Step Functions tracing): list_awsx-ray.html.
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    # ECR: the registry login token is account-wide (list_amazonelasticcontainerregistry.html); pushes
    # and pulls are scoped to repositories.
    "ecr:GetAuthorizationToken",
    # ECR: account settings (the stack turns on BLOB_MOUNTING) belong to the registry: no resource type
    # for PutAccountSetting (list_amazonelasticcontainerregistry.html).
    "ecr:PutAccountSetting",
    # Resuming a gate (list_awsstepfunctions.html: no resource type for SendTask*); the token is the
    # capability and names its execution. Only the decision handler holds them (test_deploy_readiness).
    "states:SendTaskSuccess",
    "states:SendTaskFailure",
    "states:SendTaskHeartbeat",
    # Step Functions logging to CloudWatch Logs: the vended log delivery APIs (list_amazoncloudwatchlogs.html).
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
}
# PutMetricData takes no resource either, but must then be pinned to our namespace.
CONDITIONED_STAR_ACTIONS = {"cloudwatch:PutMetricData": "cloudwatch:namespace"}
# Grouped actions CDK's grant methods emit (read/write object families, KMS data-key families).
GROUPED_ACTIONS = {
    "s3:GetObject*",
    "s3:GetBucket*",
    "s3:List*",
    "s3:DeleteObject*",
    "s3:Abort*",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
}
# AWS managed policies no role of this stack may carry.
BROAD_MANAGED = ("AdministratorAccess", "PowerUserAccess", "FullAccess", "IAMFullAccess", "ReadOnlyAccess")


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def identity_statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every statement of every identity policy: IAM policies, managed policies, roles' inline policies."""
    for name, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        documents: list[dict[str, Any]] = []
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            documents = [props["PolicyDocument"]]
        elif resource["Type"] == "AWS::IAM::Role":
            documents = [p["PolicyDocument"] for p in props.get("Policies", [])]
        for document in documents:
            for statement in document["Statement"]:
                yield name, statement


def resource_policies(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    kinds = {
        "AWS::SQS::QueuePolicy": "PolicyDocument",
        "AWS::SNS::TopicPolicy": "PolicyDocument",
        "AWS::S3::BucketPolicy": "PolicyDocument",
        "AWS::Lambda::LayerVersionPermission": None,
    }
    for name, resource in template["Resources"].items():
        field = kinds.get(resource["Type"])
        if field:
            for statement in resource["Properties"][field]["Statement"]:
                yield name, statement


def test_identity_policies_were_found(template_json: dict[str, Any]) -> None:
    # A guard for the generic tests below: they must have something to look at.
    assert len(list(identity_statements(template_json))) > 20


def test_no_action_is_a_service_wide_or_global_wildcard(template_json: dict[str, Any]) -> None:
    for name, statement in identity_statements(template_json):
        for action in _list(statement["Action"]):
            assert action != "*" and not action.endswith(":*"), (name, action)
            if "*" in action:
                assert action in GROUPED_ACTIONS, (name, action, "a wildcard CDK grants do not emit")
        assert "NotAction" not in statement and "NotResource" not in statement, name


def test_resource_star_only_for_actions_without_resource_level_permissions(template_json: dict[str, Any]) -> None:
    seen: set[str] = set()
    for name, statement in identity_statements(template_json):
        if "*" not in _list(statement.get("Resource", [])):
            continue
        for action in _list(statement["Action"]):
            seen.add(action)
            if action in CONDITIONED_STAR_ACTIONS:
                key = CONDITIONED_STAR_ACTIONS[action]
                assert any(key in c for c in statement.get("Condition", {}).values()), (name, action)
            else:
                assert action in RESOURCE_STAR_ACTIONS, (name, action, "has resource-level permissions: scope it")
    assert "xray:PutTraceSegments" in seen  # the factory's tracing grant is there, so the scan saw real policies


def test_every_function_has_its_own_role_assumable_by_lambda_only(template_json: dict[str, Any]) -> None:
    functions = resources_of(template_json, "AWS::Lambda::Function")
    roles = resources_of(template_json, "AWS::IAM::Role")
    used = [f["Properties"]["Role"]["Fn::GetAtt"][0] for f in functions.values()]
    assert len(used) == len(set(used)), "two functions share a role"
    for role_name in used:
        trust = roles[role_name]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert [s["Principal"] for s in trust] == [{"Service": "lambda.amazonaws.com"}], role_name
        assert all(s["Action"] == "sts:AssumeRole" for s in trust), role_name


def test_no_role_carries_a_broad_managed_policy(template_json: dict[str, Any]) -> None:
    for name, role in resources_of(template_json, "AWS::IAM::Role").items():
        for arn in role["Properties"].get("ManagedPolicyArns", []):
            text = json.dumps(arn)
            assert not any(broad in text for broad in BROAD_MANAGED), (name, text)


def test_key_policies_delegate_to_the_account_and_admit_services_only_under_conditions(
    template_json: dict[str, Any],
) -> None:
    keys = resources_of(template_json, "AWS::KMS::Key")
    assert keys
    for name, key in keys.items():
        # Symmetric keys rotate; an asymmetric key cannot (KMS: "Automatic key rotation is not supported on
        # asymmetric KMS keys", https://docs.aws.amazon.com/kms/latest/developerguide/rotate-keys.html).
        asymmetric = key["Properties"].get("KeySpec", "SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT"
        assert key["Properties"].get("EnableKeyRotation") is (None if asymmetric else True), name
        for statement in key["Properties"]["KeyPolicy"]["Statement"]:
            if statement["Effect"] != "Allow":
                continue
            principal = statement["Principal"]
            assert principal != "*" and principal.get("AWS") != "*", (name, statement)
            if "AWS" in principal:
                # Only the account itself (which hands the decision to IAM policies) holds kms:*.
                assert json.dumps(principal["AWS"]).endswith(':root"]]}'), (name, principal)
            else:
                assert "Service" in principal and statement.get("Condition"), (name, statement)
                assert "kms:*" not in _list(statement["Action"]), (name, statement)


def test_resource_policies_admit_nobody_anonymously(template_json: dict[str, Any]) -> None:
    for name, statement in resource_policies(template_json):
        if statement["Effect"] != "Allow":
            continue
        principal = statement.get("Principal")
        anonymous = principal == "*" or (isinstance(principal, dict) and principal.get("AWS") == "*")
        assert not anonymous or statement.get("Condition"), (name, statement)
        if isinstance(principal, dict) and "Service" in principal:
            assert statement.get("Condition"), (name, "a service principal without a source condition")


def test_buckets_block_public_access_encrypt_and_refuse_plain_http(template_json: dict[str, Any]) -> None:
    buckets = resources_of(template_json, "AWS::S3::Bucket")
    assert buckets
    policies = resources_of(template_json, "AWS::S3::BucketPolicy")
    for name, bucket in buckets.items():
        block = bucket["Properties"]["PublicAccessBlockConfiguration"]
        assert block == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }, name
        assert bucket["Properties"].get("BucketEncryption"), name
        tls = [
            s
            for p in policies.values()
            if p["Properties"]["Bucket"] == {"Ref": name}
            for s in p["Properties"]["PolicyDocument"]["Statement"]
            if s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
        ]
        assert tls, (name, "no deny of plain HTTP")


def test_queues_topics_and_tables_are_encrypted_with_our_keys(template_json: dict[str, Any]) -> None:
    for name, queue in resources_of(template_json, "AWS::SQS::Queue").items():
        assert queue["Properties"].get("KmsMasterKeyId"), name
    for name, topic in resources_of(template_json, "AWS::SNS::Topic").items():
        assert topic["Properties"].get("KmsMasterKeyId"), name
    for name, table in resources_of(template_json, "AWS::DynamoDB::Table").items():
        sse = table["Properties"]["SSESpecification"]
        assert sse["SSEEnabled"] is True and sse.get("KMSMasterKeyId"), name


@pytest.fixture(scope="module")
def validation_report(cloud_assembly: Path) -> dict[str, Any]:
    return dict(json.loads((cloud_assembly / "validation-report.json").read_text()))


def test_cdk_nag_ran_clean_and_every_acknowledgement_is_reasoned(
    validation_report: dict[str, Any], cloud_assembly: Path
) -> None:
    (nag,) = [r for r in validation_report["pluginReports"] if r["pluginName"] == "AwsSolutions"]
    assert nag["conclusion"] == "success" and nag["violations"] == []
    for suppressed in nag.get("suppressedViolations", []):
        reason = suppressed.get("reason", "")
        assert len(reason.split()) >= 5, (suppressed["ruleName"], reason)  # a sentence, not "ok"
    # The same acknowledgements as the assembly records them per construct.
    acknowledged = 0
    for path in cloud_assembly.glob("*.metadata.json"):
        for construct, entries in json.loads(path.read_text()).items():
            for entry in entries:
                if entry["type"] == "aws:cdk:acknowledged-rules":
                    for rule, reason in entry["data"].items():
                        acknowledged += 1
                        assert isinstance(reason, str) and len(reason.split()) >= 5, (construct, rule, reason)
    assert acknowledged > 0
    # Legacy cdk-nag suppressions in template metadata need reasons too.
    for path in cloud_assembly.glob("*.template.json"):
        for name, resource in json.loads(path.read_text())["Resources"].items():
            for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", []):
                assert len(str(rule.get("reason", "")).split()) >= 5, (name, rule)
