"""The adoption record's signing key: ECC P-256 for signing, only the promotion function's role may sign,
and the verifiers' managed policy reads and nothing else."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator
from typing import Any

from tests.infra.conftest import resources_of


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _signing_key(template_json: dict[str, Any]) -> str:
    (name,) = [n for n in resources_of(template_json, "AWS::KMS::Key") if n.startswith("AttestationSigningKey")]
    return name


def _role_of_function(template_json: dict[str, Any], handler_dir: str) -> str:
    (function,) = [
        f
        for f in resources_of(template_json, "AWS::Lambda::Function").values()
        if f.get("Metadata", {}).get("eksd-adopt:handler") == handler_dir
    ]
    return str(function["Properties"]["Role"]["Fn::GetAtt"][0])


def _statements_by_role(template_json: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(role logical id, statement) for every identity policy attached to a role of the stack."""
    roles = resources_of(template_json, "AWS::IAM::Role")
    for resource in template_json["Resources"].values():
        props = resource.get("Properties", {})
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            for role in props.get("Roles", []):
                for statement in props["PolicyDocument"]["Statement"]:
                    yield role["Ref"], statement
    for name, role in roles.items():
        for policy in role["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                yield name, statement
        for arn in role["Properties"].get("ManagedPolicyArns", []):
            if isinstance(arn, dict) and arn.get("Ref") in template_json["Resources"]:
                policy = template_json["Resources"][arn["Ref"]]["Properties"]["PolicyDocument"]
                for statement in policy["Statement"]:
                    yield name, statement


def _may(statement: dict[str, Any], action: str, key: str) -> bool:
    if statement["Effect"] != "Allow":
        return False
    actions = _list(statement.get("Action", []))
    resources = [json.dumps(r) for r in _list(statement.get("Resource", []))]
    return any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in actions) and any(
        r == '"*"' or key in r for r in resources
    )


def test_the_signing_key_is_an_ecc_p256_signing_key_kept_on_delete(template_json: dict[str, Any]) -> None:
    key = template_json["Resources"][_signing_key(template_json)]
    assert key["Properties"]["KeySpec"] == "ECC_NIST_P256"
    assert key["Properties"]["KeyUsage"] == "SIGN_VERIFY"
    assert key["DeletionPolicy"] == "Retain"


def test_only_the_promotion_functions_role_may_sign(template_json: dict[str, Any]) -> None:
    """Least privilege over every role of the stack: kms:Sign (or any wildcard covering it) on the key or "*"."""
    key = _signing_key(template_json)
    signers = {role for role, s in _statements_by_role(template_json) if _may(s, "kms:Sign", key)}
    assert signers == {_role_of_function(template_json, "workflow_promote")}
    (statement,) = [s for role, s in _statements_by_role(template_json) if _may(s, "kms:Sign", key)]
    assert statement["Condition"] == {"StringEquals": {"kms:SigningAlgorithm": "ECDSA_SHA_256"}}
    # The key policy leaves the decision to IAM (the account root), and names no other signer.
    for statement in template_json["Resources"][key]["Properties"]["KeyPolicy"]["Statement"]:
        assert json.dumps(statement["Principal"]).endswith(':root"]]}}'), statement


def test_the_promotion_function_knows_the_key_and_the_decision_endpoint_the_promotion_function(
    template_json: dict[str, Any],
) -> None:
    functions = {
        f.get("Metadata", {}).get("eksd-adopt:handler"): f["Properties"]
        for f in resources_of(template_json, "AWS::Lambda::Function").values()
    }
    promote_env = functions["workflow_promote"]["Environment"]["Variables"]
    assert promote_env["ATTESTATION_KEY_ARN"] == {"Fn::GetAtt": [_signing_key(template_json), "Arn"]}
    assert "APPROVALS_TABLE" in promote_env
    api_env = functions["approvals_api"]["Environment"]["Variables"]
    assert "ATTESTATION_KEY_ARN" not in api_env and "PROMOTE_FUNCTION_NAME" in api_env


def test_verifiers_policy_reads_only(template_json: dict[str, Any]) -> None:
    (policy,) = [
        p
        for n, p in resources_of(template_json, "AWS::IAM::ManagedPolicy").items()
        if n.startswith("AttestationVerifiers")
    ]
    actions = {a for s in policy["Properties"]["PolicyDocument"]["Statement"] for a in _list(s["Action"])}
    assert actions == {
        "ssm:GetParameter",
        "s3:ListBucket",
        "s3:GetObject",
        "kms:Decrypt",
        "kms:GetPublicKey",
        "ecr:GetAuthorizationToken",
        "ecr:BatchGetImage",
    }
    listing = next(s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Action"] == "s3:ListBucket")
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["eksd/prod/kubernetes-*"]}}


def test_the_key_and_the_public_key_object_are_outputs(template_json: dict[str, Any]) -> None:
    outputs = template_json["Outputs"]
    (arn,) = [o for n, o in outputs.items() if n.startswith("AttestationSigningKeyArn")]
    assert arn["Value"] == {"Fn::GetAtt": [_signing_key(template_json), "Arn"]}
    assert any(n.startswith("AttestationPublicKeyObject") for n in outputs)
    assert any(n.startswith("AttestationVerifiersPolicyArn") for n in outputs)
