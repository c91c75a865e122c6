"""The findings a gate shows: this release's scans with the delta against the release its stage runs."""

from __future__ import annotations

import pytest

from eksd_adopt.findings import ScanStatus, Severity
from eksd_adopt.findings.stage import UNRECORDED, against_stage
from tests.unit.findings.builders import finding, release_findings, scan

PROXY = "eks-distro/kubernetes/kube-proxy"
ETCD = "eks-distro/etcd-io/etcd"


def current():  # type: ignore[no-untyped-def]
    """Release 3 as its scan step stored it: the delta against nothing."""
    return release_findings(
        [
            scan(PROXY, [finding("CVE-2024-0001"), finding("CVE-2024-0002", Severity.LOW)], release="3"),
            scan(ETCD, release="3"),
        ]
    )


def test_a_stage_running_nothing_sees_every_finding_as_new() -> None:
    staged = against_stage(current(), None, None)
    assert staged.baseline == "none" and staged.delta.baseline_release_id is None
    assert [f.id for f in staged.delta.new] == ["CVE-2024-0001", "CVE-2024-0002"]


def test_against_the_stored_document_of_the_release_the_stage_runs() -> None:
    previous = release_findings(
        [scan(PROXY, [finding("CVE-2024-0002", Severity.LOW), finding("CVE-2023-9999")], release="1"), scan(ETCD)],
        release_id="1-20-1",
    )
    staged = against_stage(current(), "1-20-1", previous)
    assert staged.baseline == "stored" and staged.delta.baseline_release_id == "1-20-1"
    assert [f.id for f in staged.delta.new] == ["CVE-2024-0001"]
    assert [f.id for f in staged.delta.fixed] == ["CVE-2023-9999"]
    assert staged.scans == current().scans  # the scans are the release's own, whatever the stage


def test_a_release_promoted_without_a_document_is_unknown_never_clean() -> None:
    # Nothing is known of what the stage runs: every finding counts as new, the images are noted, none fixed.
    staged = against_stage(current(), "1-20-1", None)
    assert staged.baseline == "unrecorded" and staged.delta.baseline_release_id == "1-20-1"
    assert [f.id for f in staged.delta.new] == ["CVE-2024-0001", "CVE-2024-0002"]
    assert staged.delta.baseline_gaps == (PROXY,) and staged.delta.fixed == () and staged.delta.new_images == ()
    assert UNRECORDED


def test_another_releases_document_is_refused_as_the_baseline() -> None:
    other = release_findings([scan(ETCD)], release_id="1-20-2")
    with pytest.raises(ValueError, match="of 1-20-2, not 1-20-1"):
        against_stage(current(), "1-20-1", other)


def test_an_incomplete_scan_stays_incomplete_against_any_baseline() -> None:
    failed = release_findings([scan(PROXY, release="3", status=ScanStatus.FAILED)])
    staged = against_stage(failed, "1-20-1", None)
    assert not staged.complete and staged.delta.new == ()
