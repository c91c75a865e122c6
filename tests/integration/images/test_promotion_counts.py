"""Promotion says what it did with each distinct blob: mounted from staging, found already in the stage, or
sent again where the registry refuses mounts (ECR without BLOB_MOUNTING)."""

from __future__ import annotations

from eksd_adopt.images.registry import TargetRegistry
from eksd_adopt.local.images import SharedLayer, publish_image
from eksd_adopt.workflow.artifacts import RegistryImages
from eksd_adopt.workflow.ports import BlobsPlaced
from tests.integration.images.conftest import Target


def test_promotion_counts_mounted_present_and_resent_blobs(target: Target, name: str) -> None:
    staging, prod = f"eksd/staging/{name}", f"eksd/prod/{name}"
    licenses = SharedLayer(f"{name}/LICENSES", 700, per_platform=False)  # one blob in both platforms
    first, second = (
        publish_image(target.registry.url, staging, tag, layer_sizes=(1024,), shared_layers=[licenses], seed=tag)
        for tag in ("v1", "v2")
    )
    images = RegistryImages(TargetRegistry(target.client(), None, target.uploads))
    # Per platform a config and an own layer, and LICENSES once for both: 5 distinct blobs.
    placed = images.promote_image(staging, prod, first, "v1")
    if target.mounts:
        assert placed == BlobsPlaced(mounted=5)
    else:
        assert placed[:3] == (0, 0, 5) and placed.bytes_resent > 700
    # The second image finds LICENSES in the stage already.
    again = images.promote_image(staging, prod, second, "v2")
    assert again[:3] == ((4, 1, 0) if target.mounts else (0, 1, 4))
    assert images.promote_image(staging, prod, first, "v1") == BlobsPlaced()  # already promoted: nothing
