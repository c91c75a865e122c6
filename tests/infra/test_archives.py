"""Mirror storage in the synthesized template: the bucket's protections and the function's least privilege."""

from __future__ import annotations

import json
from typing import Any

from tests.infra.conftest import resources_of


def _one(template_json: dict[str, Any], kind: str, prefix: str) -> tuple[str, dict[str, Any]]:
    found = [(k, v) for k, v in resources_of(template_json, kind).items() if k.startswith(prefix)]
    assert len(found) == 1, found
    return found[0]


def test_artifacts_bucket_is_kms_encrypted_versioned_private_logged_and_cleans_up_uploads(
    template_json: dict[str, Any],
) -> None:
    key_id, key = _one(template_json, "AWS::KMS::Key", "MirrorStorageKey")
    assert key["Properties"]["EnableKeyRotation"] is True
    logs_id, _ = _one(template_json, "AWS::S3::Bucket", "MirrorStorageAccessLogs")
    _, bucket = _one(template_json, "AWS::S3::Bucket", "MirrorStorageArtifacts")
    props = bucket["Properties"]
    sse = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert sse == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": {"Fn::GetAtt": [key_id, "Arn"]}}
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert all(props["PublicAccessBlockConfiguration"].values())
    assert props["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": logs_id}
    rules = {r["Id"]: r for r in props["LifecycleConfiguration"]["Rules"]}
    assert rules["abort-incomplete-uploads"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}


def test_both_buckets_refuse_plain_http(template_json: dict[str, Any]) -> None:
    for prefix in ("MirrorStorageArtifactsPolicy", "MirrorStorageAccessLogsPolicy"):
        _, policy = _one(template_json, "AWS::S3::BucketPolicy", prefix)
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements
        ), prefix


def test_mirror_archive_function_writes_only_under_the_staging_prefix(template_json: dict[str, Any]) -> None:
    _, function = _one(template_json, "AWS::Lambda::Function", "MirrorStorageMirrorArchiveFunction")
    env = function["Properties"]["Environment"]["Variables"]
    assert env["ARCHIVE_KEY_PREFIX"] == "eksd/staging" and env["ARCHIVE_PART_SIZE_MIB"] == "16"
    assert env["ARCHIVE_BUCKET"]["Ref"].startswith("MirrorStorageArtifacts")
    assert function["Properties"]["Timeout"] == 900
    _, policy = _one(template_json, "AWS::IAM::Policy", "MirrorStorageMirrorArchiveRole")
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    s3_statements = [s for s in statements if any(a.startswith("s3:") for a in _actions(s))]
    for statement in s3_statements:
        assert "s3:DeleteObject" not in _actions(statement)
        text = json.dumps(statement)
        if "/eksd/upstream/*" in text:  # the copy plan each Map iteration reads its job from
            assert _actions(statement) == ["s3:GetObject"], text
            continue
        assert "/eksd/staging/*" in text or "eksd/staging/*" in json.dumps(statement.get("Condition", {})), text
    kms = [s for s in statements if any(a.startswith("kms:") for a in _actions(s))]
    assert kms and all(s["Resource"]["Fn::GetAtt"][0].startswith("MirrorStorageKey") for s in kms)


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]
