"""The summary for the state, the approval request and events: bounded whatever the release."""

from __future__ import annotations

import json

from eksd_adopt.findings import FindingsRef, ScanStatus, Severity, summarize
from eksd_adopt.findings.model import Finding
from eksd_adopt.findings.summary import MAX_IMAGES, MAX_LISTED, MAX_SUMMARY_BYTES
from tests.unit.findings.builders import finding, release_findings, scan

REF = FindingsRef(
    location="s3://bucket/eksd/staging/kubernetes-1-20/kubernetes-1-20-eks-3.findings.json", sha256="0" * 64
)


def test_counts_per_image_and_the_delta() -> None:
    findings = release_findings(
        [
            scan(
                "eks-distro/kubernetes/kube-proxy",
                [finding("CVE-2024-0001"), finding("CVE-2024-0002", Severity.LOW)],
                release="3",
            ),
            scan(
                "eks-distro/kubernetes/pause", release="3", status=ScanStatus.UNSUPPORTED_IMAGE, detail="FROM scratch"
            ),
        ],
        [scan("eks-distro/kubernetes/kube-proxy", [finding("CVE-2024-0002", Severity.LOW)], release="1")],
    )
    summary = summarize(findings, REF)
    assert not summary.complete and summary.scans == 2 and summary.incomplete_scans == 1
    pause, proxy = summary.images  # incomplete scans first: a cap never hides them
    assert pause.image == "eks-distro/kubernetes/pause" and not pause.complete
    assert pause.incomplete[0].status is ScanStatus.UNSUPPORTED_IMAGE and pause.incomplete[0].detail == "FROM scratch"
    assert proxy.counts[Severity.HIGH] == 1 and proxy.counts[Severity.LOW] == 1
    assert [f.id for f in summary.new] == ["CVE-2024-0001"] and summary.new_counts[Severity.HIGH] == 1
    assert summary.baseline_release_id == "1-20-1" and summary.location == REF.location


def test_the_summary_stays_small_at_every_cap_with_the_longest_texts() -> None:
    """A hostile-maximal release: far more images and findings than the caps, every text at its limit."""
    image_name = "/".join(["a" * 50] * 5)[:250]
    long_id = "CVE-" + "-".join(["1" * 8] * 8)
    assert len(long_id) <= 80
    scans = []
    for i in range(MAX_IMAGES * 2):
        name = f"{image_name[:226]}{i:04d}"  # the staging repository adds 13 characters: 256 in all
        findings = [
            Finding(id=f"{long_id[:70]}{n:04d}", severity=Severity.CRITICAL, package="p" * 256, version="v" * 256)
            for n in range(50)
        ]
        scans.append(scan(name, findings, platform="linux/amd64", release="3"))
        scans.append(scan(name, platform="linux/arm64", release="3", status=ScanStatus.FAILED, detail="x" * 300))
    summary = summarize(release_findings(scans, []), REF)
    size = len(json.dumps(summary.model_dump(mode="json")))
    assert size <= MAX_SUMMARY_BYTES, size
    assert len(summary.images) == MAX_IMAGES and summary.images_more == MAX_IMAGES
    assert len(summary.new) == MAX_LISTED and summary.new_more == MAX_IMAGES * 2 * 50 - MAX_LISTED
    assert all(len(e.package or "") <= 64 for e in summary.new)
