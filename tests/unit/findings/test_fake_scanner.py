"""The in-memory scanner the tests and the local runtime use: seeds per digest and per image, and the demo's seed."""

from __future__ import annotations

import pytest

from eksd_adopt.findings import FindingsRef, ScanStatus, ScanWait, Severity, scan_release, summarize
from eksd_adopt.findings.errors import ScannerUnavailableError
from eksd_adopt.local.scanner import DEMO_HIGH, DEMO_HIGH_IMAGE, DEMO_UNSCANNABLE, FakeScanner, seed_demo
from tests.unit.findings.builders import finding, platform_image


def test_a_digest_seed_wins_over_its_image_seed_and_unseeded_images_have_no_scan() -> None:
    amd64, arm64 = platform_image(DEMO_HIGH_IMAGE, "linux/amd64"), platform_image(DEMO_HIGH_IMAGE, "linux/arm64")
    scanner = FakeScanner()
    scanner.seed_image(DEMO_HIGH_IMAGE, [finding("CVE-2024-0001")])
    scanner.seed(arm64.digest, status=ScanStatus.FAILED, detail="broken layer")
    assert [f.id for f in scanner.read_scan(amd64).findings] == ["CVE-2024-0001"]
    assert scanner.read_scan(arm64).status is ScanStatus.FAILED
    assert scanner.read_scan(platform_image(DEMO_UNSCANNABLE)).status is ScanStatus.SCAN_NOT_FOUND


def test_each_platform_counts_its_own_reads_of_an_image_seed() -> None:
    amd64, arm64 = platform_image(DEMO_HIGH_IMAGE, "linux/amd64"), platform_image(DEMO_HIGH_IMAGE, "linux/arm64")
    scanner = FakeScanner()
    scanner.seed_image(DEMO_HIGH_IMAGE, unavailable_reads=1, in_progress_reads=1)
    for image in (amd64, arm64):
        with pytest.raises(ScannerUnavailableError):
            scanner.read_scan(image)
        assert scanner.read_scan(image).status is ScanStatus.IN_PROGRESS
        assert scanner.read_scan(image).status is ScanStatus.COMPLETE


def test_seeds_are_consistent() -> None:
    scanner = FakeScanner()
    with pytest.raises(ValueError, match="only a COMPLETE scan"):
        scanner.seed("sha256:" + "0" * 64, [finding("CVE-2024-0001")], status=ScanStatus.FAILED)
    with pytest.raises(ValueError, match="negative"):
        scanner.seed_image(DEMO_HIGH_IMAGE, in_progress_reads=-1)


def test_the_demo_seed_gives_one_new_high_finding_against_an_empty_stage() -> None:
    images = [
        platform_image(name, platform)
        for name in (DEMO_HIGH_IMAGE, DEMO_UNSCANNABLE, "eks-distro/etcd-io/etcd")
        for platform in ("linux/amd64", "linux/arm64")
    ]
    scanner = FakeScanner()
    seed_demo(scanner)
    findings = scan_release("1-20-1", images, scanner, wait=ScanWait(timeout_seconds=0))
    summary = summarize(findings, FindingsRef(location="s3://b/k", sha256="0" * 64))
    assert summary.new_counts[Severity.HIGH] == 1
    assert [(f.id, f.severity) for f in summary.new if f.severity is Severity.HIGH] == [(DEMO_HIGH.id, Severity.HIGH)]
    assert {i.image for i in summary.images if not i.complete} == {DEMO_UNSCANNABLE}
    # Deterministic: the same seed gives byte-for-byte the same document (it is stored write-once).
    again = FakeScanner()
    seed_demo(again)
    assert scan_release("1-20-1", images, again, wait=ScanWait(timeout_seconds=0)).body() == findings.body()
