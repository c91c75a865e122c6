"""Reading a release's scans: the bounded wait, reads that fail for now, previous releases, and the platform images."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from eksd_adopt.findings import (
    PreviousRelease,
    ScanStatus,
    ScanWait,
    Severity,
    collect_scans,
    platform_images,
    scan_release,
)
from eksd_adopt.local.scanner import FakeScanner
from tests.unit.findings.builders import digest, finding, platform_image, release_findings, scan

PROXY = "eks-distro/kubernetes/kube-proxy"
PAUSE = "eks-distro/kubernetes/pause"


class Clock:
    """A fake monotonic clock: sleeping moves it; the tests count the sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_a_scan_in_progress_is_read_again_until_it_completes() -> None:
    image = platform_image(PROXY)
    scanner = FakeScanner()
    scanner.seed(image.digest, [finding("CVE-2024-0001")], in_progress_reads=3)
    clock = Clock()
    scans = collect_scans(
        [image], scanner, ScanWait(timeout_seconds=60, interval_seconds=10), clock=clock, sleep=clock.sleep
    )
    assert scans[image].status is ScanStatus.COMPLETE and [f.id for f in scans[image].findings] == ["CVE-2024-0001"]
    assert clock.sleeps == [10, 10, 10] and len(scanner.reads) == 4


def test_the_wait_is_bounded_and_a_scan_still_in_progress_is_shown_as_such() -> None:
    image = platform_image(PROXY)
    scanner = FakeScanner()
    scanner.seed(image.digest, [finding("CVE-2024-0001")], in_progress_reads=1000)
    clock = Clock()
    scans = collect_scans(
        [image], scanner, ScanWait(timeout_seconds=60, interval_seconds=10), clock=clock, sleep=clock.sleep
    )
    assert scans[image].status is ScanStatus.IN_PROGRESS and not scans[image].findings
    assert "still in progress after 60 s" in scans[image].detail
    assert sum(clock.sleeps) <= 60 and len(scanner.reads) == 7  # a read at 0, 10, ..., 60 s: never past the wait


def test_no_wait_reads_each_image_once() -> None:
    images = [platform_image(PROXY), platform_image(PAUSE)]
    scanner = FakeScanner()
    for image in images:
        scanner.seed(image.digest, in_progress_reads=1)
    clock = Clock()
    scans = collect_scans(images, scanner, ScanWait(timeout_seconds=0), clock=clock, sleep=clock.sleep)
    assert not clock.sleeps and len(scanner.reads) == 2
    assert all(s.status is ScanStatus.IN_PROGRESS for s in scans.values())


def test_a_read_that_fails_for_now_is_tried_again_and_one_that_keeps_failing_is_unavailable() -> None:
    flaky, down = platform_image(PROXY), platform_image(PAUSE)
    scanner = FakeScanner()
    scanner.seed(flaky.digest, [finding("CVE-2024-0001")], unavailable_reads=2)
    scanner.seed(down.digest, unavailable_reads=10_000)
    clock = Clock()
    wait = ScanWait(timeout_seconds=30, interval_seconds=10)
    scans = collect_scans([flaky, down], scanner, wait, clock=clock, sleep=clock.sleep)
    assert scans[flaky].status is ScanStatus.COMPLETE
    assert scans[down].status is ScanStatus.UNAVAILABLE and not scans[down].findings
    assert "could not be read within 30 s" in scans[down].detail and "ThrottlingException" in scans[down].detail
    assert sum(clock.sleeps) <= 30


def test_settled_states_are_not_waited_for() -> None:
    """FAILED, UNSUPPORTED_IMAGE, SCAN_NOT_FOUND will not change by waiting: one read each, no sleep."""
    images = [platform_image(PROXY), platform_image(PAUSE), platform_image("eks-distro/etcd-io/etcd")]
    scanner = FakeScanner()
    scanner.seed(images[0].digest, status=ScanStatus.FAILED)
    scanner.seed(images[1].digest, status=ScanStatus.UNSUPPORTED_IMAGE)
    clock = Clock()
    scans = collect_scans(images, scanner, ScanWait(timeout_seconds=300), clock=clock, sleep=clock.sleep)
    assert [scans[i].status for i in images] == [
        ScanStatus.FAILED,
        ScanStatus.UNSUPPORTED_IMAGE,
        ScanStatus.SCAN_NOT_FOUND,  # not seeded: as ECR answers an image nobody scanned
    ]
    assert not clock.sleeps and len(scanner.reads) == 3


def test_the_same_platform_image_in_two_releases_is_read_once() -> None:
    current = platform_image(PROXY, release="3")
    previous = current.model_copy()  # an image the release did not change: same repository and digest
    scanner = FakeScanner()
    scanner.seed(current.digest, [finding("CVE-2024-0001")])
    findings = scan_release(
        "1-20-3",
        [current],
        scanner,
        previous=PreviousRelease(release_id="1-20-1", images=(previous,)),
        wait=ScanWait(timeout_seconds=0),
    )
    assert len(scanner.reads) == 1 and findings.baseline == "rescanned" and not findings.delta.new


def test_scan_release_against_the_stored_findings_of_the_previous_release() -> None:
    stored = release_findings([scan(PROXY, [finding("CVE-2024-0001")], release="1")], release_id="1-20-1")
    image = platform_image(PROXY, release="3")
    scanner = FakeScanner()
    scanner.seed(image.digest, [finding("CVE-2024-0002", Severity.CRITICAL)])
    findings = scan_release(
        "1-20-3",
        [image],
        scanner,
        previous=PreviousRelease(release_id="1-20-1", findings=stored),
        wait=ScanWait(timeout_seconds=0),
    )
    assert findings.baseline == "stored" and findings.delta.baseline_release_id == "1-20-1"
    assert [f.id for f in findings.delta.new] == ["CVE-2024-0002"]
    assert [f.id for f in findings.delta.fixed] == ["CVE-2024-0001"]
    assert scanner.reads == [(image.repository, image.digest)]  # the stored baseline is not scanned again


def test_scan_release_with_nothing_promoted_and_an_incomplete_scan() -> None:
    images = [platform_image(PROXY), platform_image(PAUSE)]
    scanner = FakeScanner()
    scanner.seed(images[0].digest, [finding("CVE-2024-0001")])
    findings = scan_release("1-20-1", images, scanner, wait=ScanWait(timeout_seconds=0))
    assert findings.baseline == "none" and not findings.complete
    assert {s.target.image: s.status for s in findings.scans} == {
        PROXY: ScanStatus.COMPLETE,
        PAUSE: ScanStatus.SCAN_NOT_FOUND,
    }


def test_previous_release_takes_one_source() -> None:
    stored = release_findings([scan(PROXY)], release_id="1-20-1")
    with pytest.raises(ValueError, match="not both"):
        PreviousRelease(release_id="1-20-1", findings=stored, images=(platform_image(PROXY),))
    with pytest.raises(ValueError, match="not 1-20-2"):
        PreviousRelease(release_id="1-20-2", findings=stored)


@dataclass(frozen=True)
class Staged:
    repository: str
    digest: str
    source: str


@dataclass(frozen=True)
class Platform:
    os: str
    arch: str
    variant: str | None
    manifest_digest: str


class Registry:
    def image_platforms(self, repository: str, digest: str) -> list[Platform]:
        return [
            Platform("linux", "arm64", "v8", digest_of(repository, "arm64")),
            Platform("linux", "amd64", None, digest_of(repository, "amd64")),
        ]


def digest_of(repository: str, arch: str) -> str:
    return digest(repository, arch)


def test_platform_images_come_from_the_staged_index_named_by_the_upstream_path() -> None:
    staged = [
        Staged(
            repository="eksd/staging/eks-distro/kubernetes/pause",
            digest=digest("index"),
            source="public.ecr.aws/eks-distro/kubernetes/pause:v1.20.4-eks-1-20-1",
        )
    ]
    images = platform_images(staged, Registry())
    assert [(i.image, i.platform, i.digest) for i in images] == [
        (PAUSE, "linux/amd64", digest_of(staged[0].repository, "amd64")),
        (PAUSE, "linux/arm64/v8", digest_of(staged[0].repository, "arm64")),
    ]
    assert all(i.index_digest == digest("index") and i.repository == staged[0].repository for i in images)


def test_the_workflow_s_staged_images_and_platforms_fit_the_ports() -> None:
    from eksd_adopt.workflow.checks import StagedImage
    from eksd_adopt.workflow.ports import PlatformInfo

    class Artifacts:
        def image_platforms(self, repository: str, digest: str) -> list[PlatformInfo]:
            return [PlatformInfo(os="linux", arch="amd64", manifest_digest=digest_of(repository, "amd64"))]

    staged = StagedImage(
        repository="eksd/staging/eks-distro/kubernetes/pause",
        tag="v1.20.4-eks-1-20-1",
        digest=digest("index"),
        source="public.ecr.aws/eks-distro/kubernetes/pause:v1.20.4-eks-1-20-1",
        arch=["amd64"],
    )
    assert [i.platform for i in platform_images([staged], Artifacts())] == ["linux/amd64"]
