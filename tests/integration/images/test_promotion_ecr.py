"""Promotion into an ECR-like target: the stage's repository is created first (moto ECR control plane)
with the staging settings, then the image is pushed by blob mount into a real registry."""

from __future__ import annotations

import boto3
from moto import mock_aws

from eksd_adopt.local.images import publish_image
from eksd_adopt.local.registry import LocalRegistry
from eksd_adopt.oci.client import RegistryClient
from eksd_adopt.oci.ecr import EcrRepositories
from eksd_adopt.workflow.artifacts import RegistryImages
from eksd_adopt.workflow.config import WorkflowSettings


def test_promotion_creates_the_stage_repository_then_mounts(target: LocalRegistry, name: str) -> None:
    staging, prod = f"eksd/staging/{name}", f"eksd/prod/{name}"
    digest = publish_image(target.url, staging, "v1", layer_sizes=(1024,), seed=name)
    settings = WorkflowSettings.model_validate(
        {"LEDGER_TABLE": "l", "ARCHIVE_BUCKET": "b", "TARGET_REGISTRY_URL": target.url, "TARGET_REGISTRY_AUTH": "none"}
    )
    with mock_aws():
        ecr = boto3.client("ecr", region_name="us-east-1")
        images = RegistryImages(settings, repositories=EcrRepositories(ecr, kms_key_arn=None))
        images.promote_image(staging, prod, digest, "v1")
        (repository,) = ecr.describe_repositories(repositoryNames=[prod])["repositories"]
        assert repository["imageTagMutability"] == "IMMUTABLE"
        assert repository["imageScanningConfiguration"] == {"scanOnPush": True}
        assert ecr.get_lifecycle_policy(repositoryName=prod)["lifecyclePolicyText"]
    client = RegistryClient(target.url)
    try:
        found = client.head_manifest(prod, "v1")
    finally:
        client.close()
    assert found is not None and found.digest == digest
