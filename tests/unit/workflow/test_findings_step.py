"""The ScanFindings step's use case on in-memory fakes: every staged platform image read, the document stored once."""

from __future__ import annotations

import hashlib

import pytest

from eksd_adopt.findings import ScanStatus, ScanWait, findings_key, load_findings
from eksd_adopt.findings.errors import FindingsDocumentError
from eksd_adopt.local.scanner import DEMO_HIGH, FakeScanner
from eksd_adopt.workflow.checks import StagedImage, StagedImages
from eksd_adopt.workflow.findings import scan_staged_release
from eksd_adopt.workflow.models import ReleaseRef
from eksd_adopt.workflow.plans import PlanRef
from eksd_adopt.workflow.ports import PlatformInfo
from eksd_adopt.workflow.state import AdoptionState
from tests.unit.findings.builders import MemoryDocuments

PROXY = "eksd/staging/kubernetes/kube-proxy"
PAUSE = "eksd/staging/kubernetes/pause"


class TwoPlatforms:
    """Each staged index has an amd64 and an arm64 platform manifest."""

    def image_platforms(self, repository: str, digest: str) -> list[PlatformInfo]:
        return [
            PlatformInfo(os="linux", arch=arch, manifest_digest=_digest(repository, arch))
            for arch in ("amd64", "arm64")
        ]


def _digest(*parts: str) -> str:
    return "sha256:" + hashlib.sha256("/".join(parts).encode()).hexdigest()


def _state(store: MemoryDocuments) -> AdoptionState:
    images = [
        StagedImage(
            repository=repo,
            tag="v1.20.4-eks-1-20-3",
            digest=_digest(repo),
            source=f"public.ecr.aws/{repo.removeprefix('eksd/staging/')}:v1.20.4-eks-1-20-3".replace(
                "public.ecr.aws/", "public.ecr.aws/eks-distro/"
            ),
        )
        for repo in (PROXY, PAUSE)
    ]
    body = StagedImages(release_id="1-20-3", images=images).model_dump_json().encode()
    location = store.put("eksd/staging/kubernetes-1-20/kubernetes-1-20-eks-3.images.json", body)
    plan = PlanRef(
        release_id="1-20-3",
        channel="1-20",
        number=3,
        stage="staging",
        prefix="eksd",
        location="s3://bucket/plan.json",
        sha256="0" * 64,
        images=2,
        archives=0,
    )
    return AdoptionState.model_validate(
        {
            "release": ReleaseRef(release_id="1-20-3", channel="1-20", number=3),
            "plan": plan,
            "staged": {"location": location, "sha256": hashlib.sha256(body).hexdigest(), "images": 2},
        }
    )


def test_every_platform_image_is_read_and_the_document_stored_write_once() -> None:
    store, scanner = MemoryDocuments(), FakeScanner()
    scanner.seed_image("eks-distro/kubernetes/kube-proxy", [DEMO_HIGH])
    scanner.seed_image("eks-distro/kubernetes/pause", status=ScanStatus.UNSUPPORTED_IMAGE)
    result = scan_staged_release(
        _state(store), store=store, artifacts=TwoPlatforms(), scanner=scanner, prefix="eksd", wait=ScanWait()
    )
    key = findings_key("eksd", "1-20", 3)
    assert result.location == f"s3://bucket/{key}" and (key, True, "application/json") in store.puts
    assert result.sha256 == hashlib.sha256(store.objects[key]).hexdigest()
    assert (result.scans, result.incomplete_scans, result.complete) == (4, 2, False)
    assert sorted(scanner.reads) == sorted((r, _digest(r, a)) for r in (PROXY, PAUSE) for a in ("amd64", "arm64"))
    document = load_findings(result.location, store, release_id="1-20-3", sha256=result.sha256)
    assert [f.id for f in document.delta.new] == [DEMO_HIGH.id]
    # The state keeps a reference, never the findings: small whatever the release.
    assert len(result.model_dump_json()) < 300


def test_a_scan_in_progress_is_waited_for_within_the_bound_then_recorded_as_such() -> None:
    store, scanner, slept = MemoryDocuments(), FakeScanner(), []
    now = [0.0]

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    scanner.seed_default()
    scanner.seed_image("eks-distro/kubernetes/kube-proxy", in_progress_reads=2)
    scanner.seed_image("eks-distro/kubernetes/pause", in_progress_reads=1000)
    result = scan_staged_release(
        _state(store),
        store=store,
        artifacts=TwoPlatforms(),
        scanner=scanner,
        prefix="eksd",
        wait=ScanWait(timeout_seconds=5, interval_seconds=1),
        clock=lambda: now[0],
        sleep=sleep,
    )
    document = load_findings(result.location, store)
    states = {(s.target.image, s.status) for s in document.scans}
    assert states == {
        ("eks-distro/kubernetes/kube-proxy", ScanStatus.COMPLETE),
        ("eks-distro/kubernetes/pause", ScanStatus.IN_PROGRESS),
    }
    assert not result.complete and sum(slept) <= 5


def test_a_retried_step_writes_nothing_new_and_different_results_are_refused() -> None:
    store, scanner = MemoryDocuments(), FakeScanner()
    scanner.seed_default()
    state = _state(store)
    first = scan_staged_release(state, store=store, artifacts=TwoPlatforms(), scanner=scanner, prefix="eksd")
    again = scan_staged_release(state, store=store, artifacts=TwoPlatforms(), scanner=scanner, prefix="eksd")
    assert again == first
    changed = FakeScanner()
    changed.seed_default([DEMO_HIGH])
    with pytest.raises(FindingsDocumentError):
        scan_staged_release(state, store=store, artifacts=TwoPlatforms(), scanner=changed, prefix="eksd")
