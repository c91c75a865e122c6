"""Image mirror in the synthesized template: the repository key, the function's settings and least-privilege ECR IAM."""

from __future__ import annotations

import json
from typing import Any

from tests.infra.conftest import resources_of


def _one(template_json: dict[str, Any], kind: str, prefix: str) -> tuple[str, dict[str, Any]]:
    found = [(k, v) for k, v in resources_of(template_json, kind).items() if k.startswith(prefix)]
    assert len(found) == 1, found
    return found[0]


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)


def test_repository_key_rotates(template_json: dict[str, Any]) -> None:
    _, key = _one(template_json, "AWS::KMS::Key", "ImageMirrorRepositoryKey")
    assert key["Properties"]["EnableKeyRotation"] is True


def test_mirror_image_function_targets_private_ecr_with_the_key_and_the_staging_prefix(
    template_json: dict[str, Any],
) -> None:
    key_id, _ = _one(template_json, "AWS::KMS::Key", "ImageMirrorRepositoryKey")
    _, function = _one(template_json, "AWS::Lambda::Function", "ImageMirrorMirrorImageFunction")
    env = function["Properties"]["Environment"]["Variables"]
    assert env["TARGET_REGISTRY_AUTH"] == "ecr" and env["ECR_CONTROL_PLANE"] == "true"
    assert env["ECR_KMS_KEY_ARN"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert env["MIRROR_REPOSITORY_PREFIX"] == "eksd/staging"
    assert env["MIRROR_UPLOAD"] == "patch" and "MIRROR_CHUNK_MIB" not in env  # one PATCH per blob, as docker push
    assert ".dkr.ecr." in json.dumps(env["TARGET_REGISTRY_URL"])
    assert function["Properties"]["Timeout"] == 900 and function["Properties"]["MemorySize"] >= 1024
    assert function["Properties"]["Architectures"] == ["arm64"]


def test_mirror_image_ecr_rights_are_scoped_to_staging_repositories(template_json: dict[str, Any]) -> None:
    _, policy = _one(template_json, "AWS::IAM::Policy", "ImageMirrorMirrorImageRole")
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    ecr = [s for s in statements if any(a.startswith("ecr:") for a in _actions(s))]
    for statement in ecr:
        assert all("*" not in action for action in _actions(statement))
        if _actions(statement) == ["ecr:GetAuthorizationToken"]:
            assert statement["Resource"] == "*"  # the API has no resource; it grants nothing by itself
            continue
        resource = json.dumps(statement["Resource"])
        assert ":repository/eksd/staging/*" in resource, resource
        assert "ecr:DeleteRepository" not in _actions(statement) and "ecr:BatchDeleteImage" not in _actions(statement)
    pushed = {a for s in ecr for a in _actions(s)}
    assert {"ecr:PutImage", "ecr:CompleteLayerUpload", "ecr:CreateRepository", "ecr:PutLifecyclePolicy"} <= pushed
    kms = [s for s in statements if any(a.startswith("kms:") for a in _actions(s))]
    # Besides the repositories' key: decrypting, through S3 only, the copy plan each Map iteration reads.
    plans = [s for s in kms if s["Resource"]["Fn::GetAtt"][0].startswith("MirrorStorageKey")]
    assert [(_actions(s), "s3." in json.dumps(s["Condition"])) for s in plans] == [(["kms:Decrypt"], True)]
    kms = [s for s in kms if s not in plans]
    assert kms and all(s["Resource"]["Fn::GetAtt"][0].startswith("ImageMirrorRepositoryKey") for s in kms)
    assert all("ecr." in json.dumps(s["Condition"]) for s in kms)
    s3 = [s for s in statements if any(a.startswith("s3:") for a in _actions(s))]
    assert [(_actions(s), json.dumps(s["Resource"]).endswith('/eksd/upstream/*"]]}')) for s in s3] == [
        (["s3:GetObject"], True)
    ]
