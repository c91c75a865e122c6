"""Findings models: the advisory id pattern against hostile text, strict finding and image fields, counts."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from eksd_adopt.findings import (
    Finding,
    ImageScan,
    PlatformImage,
    ScanStatus,
    Severity,
    check_finding_id,
    is_finding_id,
    severity_counts,
)
from eksd_adopt.findings.model import printable
from tests.unit.findings.builders import digest, finding, platform_image

REAL_IDS = [
    "CVE-2019-5188",  # the AWS CLI's describe-image-scan-findings example
    "CVE-2024-3094",
    "CVE-2023-1234567",
    "GHSA-jfh8-c2jp-5v3q",
    "ALAS2-2023-2045",
    "ALASKERNEL-5.10-2022-005",
    "RHSA-2023:1234",
    "GO-2022-0969",
    "PYSEC-2021-1",
    "DSA-5000-1",
]
HOSTILE_IDS = [
    "",
    "CVE",
    "CVE-2024-3094\n",  # a final newline: `$` would let it through, fullmatch does not
    "CVE-2024-3094\r",
    " CVE-2024-3094",
    "CVE-2024-3094 ",
    "CVE-\u0662\u0660\u0662\u0664-3094",  # Arabic-Indic digits: \d would take them
    "CVE-2024-\uff13\uff10\uff19\uff14",  # fullwidth digits
    "CVE\u20112024\u20113094",  # non-breaking hyphens
    "\u0421VE-2024-3094",  # a Cyrillic capital Es
    "cve-2024-3094",  # ids are upper-case at the front
    "incomplete-scan",  # the acknowledgment word is not an advisory id
    "CVE-2024-3094;rm -rf /",
    "CVE-2024-3094/../../x",
    "CVE-2024-[3094]",
    "CVE-2024-3094\x00",
    "A" * 10_000,
    "CVE-" + "1" * 10_000,
    "CVE-2024-" + "-1" * 5_000,
]


@pytest.mark.parametrize("value", REAL_IDS)
def test_real_advisory_ids_are_ids(value: str) -> None:
    assert is_finding_id(value) and check_finding_id(value) == value


@pytest.mark.parametrize("value", HOSTILE_IDS, ids=lambda v: ascii(v)[:40])
def test_hostile_text_is_not_an_id(value: str) -> None:
    assert not is_finding_id(value)
    with pytest.raises(ValueError) as caught:
        check_finding_id(value, "accepted finding 3")
    message = str(caught.value)
    # The error names the field and quotes a bounded, ASCII excerpt: no 10k-char echo, no raw control bytes.
    assert message.startswith("accepted finding 3:") and len(message) < 200 and message.isascii()


@pytest.mark.parametrize("value", [None, 2024, ["CVE-2024-3094"], b"CVE-2024-3094"])
def test_non_strings_are_not_ids(value: object) -> None:
    assert not is_finding_id(value)


def test_a_finding_refuses_a_hostile_id_package_or_severity() -> None:
    with pytest.raises(ValidationError, match="id"):
        Finding(id="CVE-2024-3094\n", severity=Severity.HIGH)
    with pytest.raises(ValidationError, match="package"):
        Finding(id="CVE-2024-3094", severity=Severity.HIGH, package="openssl\x1b[31m")
    with pytest.raises(ValidationError, match="version"):
        Finding(id="CVE-2024-3094", severity=Severity.HIGH, version="1" * 300)
    with pytest.raises(ValidationError, match="severity"):
        Finding.model_validate({"id": "CVE-2024-3094", "severity": "SEVERE"})
    with pytest.raises(ValidationError, match="extra"):
        Finding.model_validate({"id": "CVE-2024-3094", "severity": "HIGH", "note": "x"})


def test_a_platform_image_is_checked_field_by_field() -> None:
    good = platform_image("eks-distro/kubernetes/pause", "linux/arm64/v8")
    assert good.platform == "linux/arm64/v8"
    bad = {
        "image": "Eks-Distro/pause",
        "repository": "eksd/staging/../pause",
        "index_digest": "sha256:" + "A" * 64,
        "platform": "linux/amd64\n",
        "digest": "sha256:" + "0" * 63,
    }
    for field, value in bad.items():
        with pytest.raises(ValidationError, match=field):
            PlatformImage.model_validate({**good.model_dump(), field: value})


def test_an_incomplete_scan_has_no_findings() -> None:
    """An incomplete scan can never be read as a scan with few findings: it carries none, and its state says why."""
    target = platform_image("eks-distro/kubernetes/pause")
    for status in set(ScanStatus) - {ScanStatus.COMPLETE}:
        with pytest.raises(ValidationError, match="no findings"):
            ImageScan(target=target, status=status, findings=(finding("CVE-2024-3094"),))
        assert not ImageScan(target=target, status=status).complete
    assert ImageScan(target=target, status=ScanStatus.COMPLETE).complete


def test_scan_detail_is_printable_ascii_and_bounded() -> None:
    scan = ImageScan(
        target=platform_image("eks-distro/kubernetes/pause"),
        status=ScanStatus.FAILED,
        detail="bad\x1b[2J\u202eimage " + "x" * 1000,
    )
    assert scan.detail.isascii() and "\x1b" not in scan.detail and len(scan.detail) <= 300
    assert printable(None) == ""


def test_registry_status_is_one_upper_case_word() -> None:
    target = platform_image("eks-distro/kubernetes/pause")
    with pytest.raises(ValidationError):
        ImageScan(target=target, status=ScanStatus.UNAVAILABLE, registry_status="COMPLETE\n")


def test_counts_are_of_distinct_advisories_at_their_highest_severity() -> None:
    counts = severity_counts(
        [
            finding("CVE-2024-0001", Severity.HIGH, "openssl"),
            finding("CVE-2024-0001", Severity.CRITICAL, "libssl"),  # the same advisory in another package
            finding("CVE-2024-0002", Severity.LOW),
            finding("CVE-2024-0003", Severity.UNTRIAGED),
        ]
    )
    assert counts[Severity.CRITICAL] == 1 and counts[Severity.HIGH] == 0
    assert counts[Severity.LOW] == 1 and counts[Severity.UNTRIAGED] == 1
    assert list(counts) == [
        Severity.CRITICAL,
        Severity.HIGH,
        Severity.MEDIUM,
        Severity.LOW,
        Severity.INFORMATIONAL,
        Severity.UNDEFINED,
        Severity.UNTRIAGED,
    ]


def test_digest_helper_is_a_digest() -> None:
    assert digest("x").startswith("sha256:") and len(digest("x")) == 71
