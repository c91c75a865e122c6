"""The stage threshold: which new findings and incomplete scans block, and what an approver's acceptance does."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from eksd_adopt.findings import (
    INCOMPLETE_SCAN,
    FindingsNotAcknowledgedError,
    FindingsRule,
    ScanStatus,
    Severity,
    check_acknowledgments,
    check_findings,
    parse_accepted,
    required_acknowledgments,
)
from tests.unit.findings.builders import finding, release_findings, scan

PROXY = "eks-distro/kubernetes/kube-proxy"
PAUSE = "eks-distro/kubernetes/pause"
HIGH = FindingsRule(block_on=Severity.HIGH)


def test_a_new_high_over_block_on_high_blocks_without_acceptance_and_passes_with_it() -> None:
    findings = release_findings(
        [scan(PROXY, [finding("CVE-2024-0001", Severity.HIGH)], release="3")], [scan(PROXY, [], release="1")]
    )
    refused = check_findings(findings, HIGH, [])
    assert not refused.passes and [f.id for f in refused.blocking] == ["CVE-2024-0001"]
    with pytest.raises(FindingsNotAcknowledgedError, match="CVE-2024-0001"):
        refused.require()
    accepted = check_findings(findings, HIGH, ["CVE-2024-0001"])
    assert accepted.passes and accepted.accepted == ("CVE-2024-0001",) and not accepted.unknown
    assert accepted.require() is accepted


def test_only_new_findings_at_or_above_the_threshold_block() -> None:
    findings = release_findings(
        [
            scan(
                PROXY,
                [
                    finding("CVE-2024-0001", Severity.CRITICAL),  # new, above
                    finding("CVE-2024-0002", Severity.MEDIUM),  # new, below
                    finding("CVE-2024-0003", Severity.HIGH),  # already in the stage: not new
                ],
                release="3",
            )
        ],
        [scan(PROXY, [finding("CVE-2024-0003", Severity.HIGH)], release="1")],
    )
    required = required_acknowledgments(findings, HIGH)
    assert [f.id for f in required.findings] == ["CVE-2024-0001"]
    assert required.ids() == {"CVE-2024-0001"}


@pytest.mark.parametrize("severity", [Severity.UNDEFINED, Severity.UNTRIAGED])
def test_a_new_finding_of_unknown_severity_blocks_under_any_threshold(severity: Severity) -> None:
    findings = release_findings([scan(PROXY, [finding("CVE-2024-0001", severity)])])
    assert not check_findings(findings, FindingsRule(block_on=Severity.CRITICAL), []).passes


def test_without_a_threshold_nothing_blocks_and_every_accepted_id_is_unknown() -> None:
    findings = release_findings(
        [scan(PROXY, [finding("CVE-2024-0001", Severity.CRITICAL)]), scan(PAUSE, status=ScanStatus.FAILED)]
    )
    check = check_findings(findings, FindingsRule(), ["CVE-2024-0001"])
    assert check.passes and check.unknown == ("CVE-2024-0001",)


def test_an_unknown_accepted_id_is_reported_and_refused() -> None:
    findings = release_findings([scan(PROXY, [finding("CVE-2024-0001")])])
    check = check_findings(findings, HIGH, ["CVE-2024-0001", "CVE-2024-9999"])
    assert check.passes and check.unknown == ("CVE-2024-9999",) and check.accepted == ("CVE-2024-0001",)
    with pytest.raises(FindingsNotAcknowledgedError, match="CVE-2024-9999"):
        check.require()


def test_an_incomplete_scan_blocks_at_a_gate_with_a_threshold_until_incomplete_scan_is_accepted() -> None:
    """An incomplete scan is never "no findings": it blocks like a finding until the approver accepts it."""
    findings = release_findings(
        [scan(PROXY, [], platform="linux/amd64"), scan(PROXY, platform="linux/arm64", status=ScanStatus.IN_PROGRESS)]
    )
    refused = check_findings(findings, HIGH, [])
    assert not refused.passes and not refused.blocking
    assert [(s.image, s.platform, s.status) for s in refused.blocking_scans] == [
        (PROXY, "linux/arm64", ScanStatus.IN_PROGRESS)
    ]
    with pytest.raises(FindingsNotAcknowledgedError, match=INCOMPLETE_SCAN):
        refused.require()
    accepted = check_findings(findings, HIGH, [INCOMPLETE_SCAN])
    assert accepted.passes and accepted.accepted == (INCOMPLETE_SCAN,)


def test_unscannable_images_may_answer_unsupported_but_nothing_else() -> None:
    rule = FindingsRule(block_on=Severity.HIGH, unscannable=(PAUSE,))
    unsupported = release_findings([scan(PAUSE, status=ScanStatus.UNSUPPORTED_IMAGE)])
    assert check_findings(unsupported, rule, []).passes
    failed = release_findings([scan(PAUSE, status=ScanStatus.FAILED)])
    assert not check_findings(failed, rule, []).passes
    other = release_findings([scan(PROXY, status=ScanStatus.UNSUPPORTED_IMAGE)])
    assert not check_findings(other, rule, []).passes


def test_accepting_an_id_accepts_it_in_every_image_it_is_new_in() -> None:
    findings = release_findings([scan(PROXY, [finding("CVE-2024-0001")]), scan(PAUSE, [finding("CVE-2024-0001")])])
    required = required_acknowledgments(findings, HIGH)
    assert len(required.findings) == 2 and required.ids() == {"CVE-2024-0001"}
    assert check_acknowledgments(required, ["CVE-2024-0001"]).passes


def test_the_check_names_what_blocks() -> None:
    findings = release_findings(
        [scan(PROXY, [finding(f"CVE-2024-{n:04d}") for n in range(30)]), scan(PAUSE, status=ScanStatus.FAILED)]
    )
    problems = check_findings(findings, HIGH, []).problems()
    assert "CVE-2024-0000" in problems[0] and "(and 10 more)" in problems[0]
    assert f"{PAUSE} linux/amd64 FAILED" in problems[1]


@pytest.mark.parametrize(
    "value", ["CVE-2024-0001\n", "cve-2024-0001", "CVE-\u0662\u0660\u0662\u0664-1", "x" * 10_000, "", 42, None]
)
def test_accepted_ids_are_checked_before_anything_else(value: object) -> None:
    with pytest.raises(ValueError, match="accepted finding 2"):
        parse_accepted(["CVE-2024-0001", value])


def test_accepted_ids_are_bounded_and_deduplicated() -> None:
    assert parse_accepted(["CVE-2024-0001", INCOMPLETE_SCAN, "CVE-2024-0001"]) == ("CVE-2024-0001", INCOMPLETE_SCAN)
    with pytest.raises(ValueError, match="at most 200"):
        parse_accepted(f"CVE-2024-{n:05d}" for n in range(201))


def test_a_threshold_is_a_known_severity_and_unscannable_paths_are_checked() -> None:
    for severity in (Severity.UNDEFINED, Severity.UNTRIAGED):
        with pytest.raises(ValidationError, match="block_on"):
            FindingsRule(block_on=severity)
    with pytest.raises(ValidationError, match="unscannable"):
        FindingsRule(block_on=Severity.HIGH, unscannable=("eks-distro/pause\n",))
    assert FindingsRule.model_validate({"block_on": "CRITICAL"}).block_on is Severity.CRITICAL
