"""Promotion's result says how the images' blobs reached the stage: mounted, re-sent (mounts refused) or present."""

from __future__ import annotations

from eksd_adopt.events import InMemoryPublisher
from eksd_adopt.ledger import InMemoryLedger, ReleaseRecord, ReleaseStatus
from eksd_adopt.plan import ArchiveCopyJob, plan_release
from eksd_adopt.release.validate import validate_manifest
from eksd_adopt.workflow.checks import StagedImage
from eksd_adopt.workflow.models import ReleaseRef
from eksd_adopt.workflow.ports import BlobsPlaced
from eksd_adopt.workflow.promotion import promote
from tests.unit.workflow.fakes import FakePointers, FakeStore


class Promoter:
    """The first image mounted whole; the second re-sent (the registry refused mounts) but for one blob
    already there; the rest already promoted."""

    def __init__(self) -> None:
        self.calls = 0

    def promote_image(self, source_repository: str, target_repository: str, digest: str, tag: str) -> BlobsPlaced:
        self.calls += 1
        if self.calls == 1:
            return BlobsPlaced(mounted=6)
        if self.calls == 2:
            return BlobsPlaced(skipped=1, resent=5, bytes_resent=7000)
        return BlobsPlaced()  # already promoted

    def promote_archive(self, source_key: str, target_key: str) -> None:
        pass

    def write_checksum_files(self, jobs: list[ArchiveCopyJob]) -> None:
        pass


def test_the_promotion_result_counts_mounted_resent_and_present_blobs(manifest_1_20: str) -> None:
    plan = plan_release(validate_manifest(manifest_1_20).require_valid(strict=False), prefix="eksd")
    store = FakeStore()
    location = store.put("eksd/upstream/1-20/1.yaml", manifest_1_20.encode())
    release = ReleaseRef(release_id="1-20-1", channel="1-20", number=1, manifest_location=location)
    ledger = InMemoryLedger()
    ledger.create(ReleaseRecord(release_id="1-20-1", channel="1-20", number=1, status=ReleaseStatus.APPROVED))
    images = [
        StagedImage(repository=job.target_repository, tag=job.tag, digest="sha256:" + "a" * 64, source=job.source)
        for job in plan.images
    ]

    result = promote(
        release,
        plan,
        images,
        "prod",
        promoter=Promoter(),
        store=store,
        pointers=FakePointers(),
        ledger=ledger,
        publisher=InMemoryPublisher(),
        registry_host="123456789012.dkr.ecr.us-east-1.amazonaws.com",
    )

    assert result.images == len(images) > 2
    assert (result.blobs_mounted, result.blobs_skipped, result.blobs_resent, result.bytes_resent) == (6, 1, 5, 7000)
