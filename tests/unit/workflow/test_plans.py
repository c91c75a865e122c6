"""The plan and the verified images live in the bucket; the state names them by location and sha256."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from pydantic import ValidationError

from eksd_adopt.events import InMemoryPublisher
from eksd_adopt.ledger import InMemoryLedger, ReleaseRecord, ReleaseStatus
from eksd_adopt.plan import ArchiveCopyJob, CopyPlan, ImageCopyJob
from eksd_adopt.release.validate import Finding, Severity
from eksd_adopt.workflow.checks import load_staged_images, verify_staged
from eksd_adopt.workflow.errors import ArtifactMissingError, VerificationFailedError, WorkflowInputError
from eksd_adopt.workflow.models import ReleaseRef
from eksd_adopt.workflow.plans import job_items, load_plan, mirror_request, store_plan
from eksd_adopt.workflow.ports import PlatformInfo
from eksd_adopt.workflow.state import AdoptionState, PromotionState
from eksd_adopt.workflow.steps import ValidateResult
from tests.unit.workflow.fakes import FakeStore

DIGEST = "sha256:" + "d" * 64
MANIFEST = b"""apiVersion: distro.eks.amazonaws.com/v1alpha1
kind: Release
status:
  components:
  - name: kubernetes
    assets:
    - name: pause-image
      type: Image
      image: {uri: "public.ecr.aws/eks-distro/kubernetes/pause:v1-eks-1-20-9"}
    - name: tool
      type: Archive
      archive: {uri: "https://distro.eks.amazonaws.com/kubernetes-1-20/releases/9/artifacts/tool"}
"""


def plan(images: int = 1, archives: int = 1, known_digest: str | None = None) -> CopyPlan:
    return CopyPlan(
        release_id="1-20-9",
        channel="1-20",
        number=9,
        stage="staging",
        prefix="eksd",
        images=tuple(
            ImageCopyJob(
                component="kubernetes",
                asset="pause-image",
                source="public.ecr.aws/eks-distro/kubernetes/pause:v1-eks-1-20-9",
                known_digest=known_digest,
                target_repository=f"eksd/staging/eks-distro/kubernetes/pause{n or ''}",
                tag="v1-eks-1-20-9",
                arch=("amd64",),
            )
            for n in range(images)
        ),
        archives=tuple(
            ArchiveCopyJob(
                component="kubernetes",
                asset="tool",
                source_url="https://distro.eks.amazonaws.com/kubernetes-1-20/releases/9/artifacts/tool",
                sha256="a" * 64,
                sha512="b" * 128,
                target_key=f"eksd/staging/kubernetes-1-20/releases/9/artifacts/tool{n or ''}",
            )
            for n in range(archives)
        ),
    )


class CountingStore(FakeStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get(self, location: str) -> bytes:
        self.reads += 1
        return super().get(location)


def test_the_plan_is_stored_once_and_the_state_carries_a_reference_and_small_items() -> None:
    store = FakeStore()
    ref = store_plan(plan(images=2, archives=3), store)
    assert ref.location == "s3://bucket/eksd/upstream/kubernetes-1-20/kubernetes-1-20-eks-9.plan.json"
    assert ref.sha256 == hashlib.sha256(store.objects[ref.location.removeprefix("s3://bucket/")]).hexdigest()
    assert [(i.kind, i.index) for i in job_items(ref)] == [("image", 0), ("image", 1)] + [
        ("archive", n) for n in range(3)
    ]
    assert load_plan(ref, store) == plan(images=2, archives=3)


def test_a_plan_changed_after_validate_is_refused() -> None:
    store = FakeStore()
    ref = store_plan(plan(), store)
    key = ref.location.removeprefix("s3://bucket/")
    store.objects[key] = store.objects[key].replace(b"a" * 64, b"c" * 64)
    with pytest.raises(ArtifactMissingError, match="changed after Validate"):
        load_plan(ref, store)


def test_a_map_item_becomes_its_job_and_the_plan_is_read_once_per_process() -> None:
    store = CountingStore()
    ref = store_plan(plan(images=1, archives=2), store)
    item: dict[str, Any] = {"release_id": "1-20-9", "plan": ref.model_dump(), "job": {"kind": "archive", "index": 1}}
    request = mirror_request(item, "archive", lambda: store)
    assert request == {"release_id": "1-20-9", "job": plan(archives=2).archives[1].model_dump(mode="json")}
    mirror_request({**item, "job": {"kind": "archive", "index": 0}}, "archive", lambda: store)
    assert store.reads == 1
    with pytest.raises(WorkflowInputError, match="image mirror was handed archive"):
        mirror_request(item, "image", lambda: store)
    with pytest.raises(ArtifactMissingError, match="no index 2"):
        mirror_request({**item, "job": {"kind": "archive", "index": 2}}, "archive", lambda: store)
    direct = {"job": plan().archives[0].model_dump(mode="json")}
    assert mirror_request(direct, "archive", lambda: pytest.fail("a direct call reads no plan")) == direct


class FakeArtifacts:
    """A staged copy where each repository's tag names one digest and each index has one amd64 platform."""

    def __init__(self, tags: dict[tuple[str, str], str]) -> None:
        self.tags = tags

    def image_digest(self, repository: str, tag: str) -> str | None:
        return self.tags.get((repository, tag))

    def image_platforms(self, repository: str, digest: str) -> list[PlatformInfo]:
        if self.tags.get((repository, "v1-eks-1-20-9")) != digest:
            raise ArtifactMissingError(f"{repository}@{digest} is not there")
        return [PlatformInfo(os="linux", arch="amd64", manifest_digest=digest, config_os="linux", config_arch="amd64")]

    def archive_checksums(self, key: str) -> tuple[str, str]:
        return "a" * 64, "b" * 128

    def write_checksum_files(self, jobs: list[ArchiveCopyJob]) -> None:
        pass


def verify(copy_plan: CopyPlan, artifacts: FakeArtifacts, store: FakeStore) -> Any:
    ledger = InMemoryLedger()
    ledger.create(ReleaseRecord(release_id="1-20-9", channel="1-20", number=9, status=ReleaseStatus.ADOPTING))
    release = ReleaseRef(release_id="1-20-9", channel="1-20", number=9, manifest_location="s3://bucket/m.yaml")
    return verify_staged(
        release,
        copy_plan,
        artifacts=artifacts,
        store=store,
        ledger=ledger,
        publisher=InMemoryPublisher(),
        registry_host="registry.example",
    )


def test_verify_takes_a_digest_the_manifest_lacks_from_the_staging_tag_and_stores_the_images() -> None:
    store = FakeStore()
    store.put("m.yaml", MANIFEST)
    copy_plan = plan(known_digest=None)
    artifacts = FakeArtifacts({("eksd/staging/eks-distro/kubernetes/pause", "v1-eks-1-20-9"): DIGEST})
    result = verify(copy_plan, artifacts, store)
    assert result.staged.location == "s3://bucket/eksd/staging/kubernetes-1-20/kubernetes-1-20-eks-9.images.json"
    (image,) = load_staged_images(result.staged, "1-20-9", store)
    assert (image.repository, image.digest) == ("eksd/staging/eks-distro/kubernetes/pause", DIGEST)
    with pytest.raises(ArtifactMissingError, match="1-20-10"):
        load_staged_images(result.staged, "1-20-10", store)


def test_verify_fails_an_image_whose_staging_tag_is_missing() -> None:
    store = FakeStore()
    store.put("m.yaml", MANIFEST)
    with pytest.raises(VerificationFailedError, match="pause:v1-eks-1-20-9 is not in the registry"):
        verify(plan(known_digest=None), FakeArtifacts({}), store)


def test_validate_answers_with_a_bounded_list_of_warnings() -> None:
    store = FakeStore()
    ref = store_plan(plan(), store)
    warnings = [
        Finding(location=f"asset {n}", message="no imageDigest", severity=Severity.WARNING, rule="r") for n in range(30)
    ]
    result = ValidateResult(
        release=ReleaseRef(release_id="1-20-9", channel="1-20", number=9), plan=ref, items=[], warnings=warnings
    )
    answer = result.for_state()
    assert len(answer["warnings"]) == 20 and answer["warnings_total"] == 30


def test_the_state_after_verify_names_the_plan_and_the_images_and_nothing_else() -> None:
    store = FakeStore()
    store.put("m.yaml", MANIFEST)
    copy_plan = plan(known_digest=None)
    artifacts = FakeArtifacts({("eksd/staging/eks-distro/kubernetes/pause", "v1-eks-1-20-9"): DIGEST})
    staged = verify(copy_plan, artifacts, store).staged
    release = {"release_id": "1-20-9", "channel": "1-20", "number": 9}
    evidence = {
        "recorded_at": "2026-03-04T05:06:07.123Z",
        "execution": "arn:aws:states:us-east-1:123456789012:execution:eksd-adopt-release:adopt-1-20-9",
        "verification": {"ok": True},
        "tests": {"smoke": {"ok": True}},
    }
    state = PromotionState.model_validate(
        {"release": release, "plan": store_plan(copy_plan, store), "staged": staged, "stage": "prod", **evidence}
    )
    assert state.copy_plan(store) == copy_plan
    assert [i.digest for i in state.staged_images(store)] == [DIGEST]
    before_verify = AdoptionState.model_validate({"release": release, "plan": state.plan})
    with pytest.raises(WorkflowInputError, match="names no verified images"):
        before_verify.staged_images(store)
    with pytest.raises(ValidationError, match="jobs"):  # the jobs never travel in the state
        AdoptionState.model_validate({"release": release, "plan": state.plan, "jobs": []})
    with pytest.raises(ValidationError, match="staged"):
        PromotionState.model_validate({"release": release, "plan": state.plan, "stage": "prod", **evidence})
