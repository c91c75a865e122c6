"""Promotion says what it did with each blob: mounted from staging, or found already in the stage."""

from __future__ import annotations

from eksd_adopt.local.images import SharedLayer, publish_image
from eksd_adopt.local.registry import LocalRegistry
from eksd_adopt.workflow.artifacts import RegistryImages
from eksd_adopt.workflow.config import WorkflowSettings
from eksd_adopt.workflow.ports import BlobsPlaced


def test_promotion_counts_mounted_and_already_present_blobs(target: LocalRegistry, name: str) -> None:
    staging, prod = f"eksd/staging/{name}", f"eksd/prod/{name}"
    licenses = SharedLayer(f"{name}/LICENSES", 700, per_platform=False)  # one blob in both platforms
    digest = publish_image(target.url, staging, "v1", layer_sizes=(1024,), shared_layers=[licenses], seed=name)
    settings = WorkflowSettings.model_validate(
        {"LEDGER_TABLE": "l", "ARCHIVE_BUCKET": "b", "TARGET_REGISTRY_URL": target.url, "TARGET_REGISTRY_AUTH": "none"}
    )
    images = RegistryImages(settings)
    # Per platform: config + own layer + LICENSES; LICENSES is in prod once amd64 has mounted it.
    assert images.promote_image(staging, prod, digest, "v1") == BlobsPlaced(mounted=5, skipped=1)
    assert images.promote_image(staging, prod, digest, "v1") == BlobsPlaced()  # already promoted: nothing
