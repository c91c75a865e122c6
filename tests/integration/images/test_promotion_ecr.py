"""Promotion as the promote function runs it (``RegistryImages``), into each kind of target.

The stage's repository is created first (moto's ECR control plane) with staging's settings; then
every blob is mounted from staging or, where the registry refuses mounts (ECR without its
BLOB_MOUNTING account setting), read back and sent again, verified; the result says which.
Against the ECR front the credentials come from moto's ``GetAuthorizationToken``, as in Lambda.
"""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from eksd_adopt.images.client import RegistryClient
from eksd_adopt.images.copier import MIB
from eksd_adopt.images.registry import connect_target
from eksd_adopt.local.images import publish_image
from eksd_adopt.workflow.artifacts import RegistryImages
from eksd_adopt.workflow.config import PromoteSettings
from eksd_adopt.workflow.ports import BlobsPlaced
from tests.integration.images.conftest import Target


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield


def test_promotion_creates_the_stage_repository_then_mounts_or_resends(target: Target, name: str, aws: None) -> None:
    staging, prod = f"eksd/staging/{name}", f"eksd/prod/{name}"
    digest = publish_image(target.registry.url, staging, "v1", layer_sizes=(1024, 6 * MIB), seed=name)
    settings = PromoteSettings.model_validate(
        {
            "LEDGER_TABLE": "l",
            "ARCHIVE_BUCKET": "b",
            "TARGET_REGISTRY_URL": target.url,
            "TARGET_REGISTRY_AUTH": "ecr" if target.ecr else "none",
            "ECR_CONTROL_PLANE": "true",  # the stage's repository is created as the promote function creates it
        }
    )
    ecr = boto3.client("ecr")
    images = RegistryImages(connect_target(settings, ecr=ecr))

    promoted = images.promote_image(staging, prod, digest, "v1")

    (repository,) = ecr.describe_repositories(repositoryNames=[prod])["repositories"]
    assert repository["imageTagMutability"] == "IMMUTABLE"
    assert repository["imageScanningConfiguration"] == {"scanOnPush": True}
    assert ecr.get_lifecycle_policy(repositoryName=prod)["lifecyclePolicyText"]
    blobs = 6  # two platforms: a config and two layers each
    if target.mounts:
        assert promoted == BlobsPlaced(mounted=blobs)
    else:
        assert promoted[:3] == (0, 0, blobs) and promoted.bytes_resent > 2 * 6 * MIB
    client = RegistryClient(target.registry.url)
    try:
        found = client.head_manifest(prod, "v1")
    finally:
        client.close()
    assert found is not None and found.digest == digest
    assert images.promote_image(staging, prod, digest, "v1") == BlobsPlaced()  # a rerun does nothing
