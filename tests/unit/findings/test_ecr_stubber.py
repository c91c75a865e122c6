"""The ECR adapter against botocore Stubber answers shaped as the API documents them.

Stubber checks every request against ECR's service model and every answer against its output shape.
It is used where moto is not faithful (tests/integration/findings covers what moto does do):

- moto never scans on push: an image pushed to a scan-on-push repository has no scan until
  ``StartImageScan`` (ScanNotFoundException), where ECR answers IN_PROGRESS and then COMPLETE;
- moto answers COMPLETE at once (no IN_PROGRESS, PENDING, FAILED or UNSUPPORTED_IMAGE);
- moto ignores ``maxResults`` and never pages with ``nextToken``;
- moto's findings are one fixed basic finding unless a result is set through its API.

The basic answer is the AWS CLI's example (aws/aws-cli awscli/examples/ecr/describe-image-scan-findings.rst);
the enhanced one follows the API reference's EnhancedImageScanFinding and PackageVulnerabilityDetails.
Stubber hands back the answer as given, so timestamps are the datetimes botocore would have parsed.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from eksd_adopt.findings import ScanStatus, ScanWait, Severity, collect_scans
from eksd_adopt.findings.ecr import PAGE_SIZE, EcrFindingsScanner
from eksd_adopt.findings.errors import ScannerError, ScannerUnavailableError
from eksd_adopt.findings.model import PlatformImage

DIGEST = "sha256:74b2c688c700ec95a93e478cdb959737c148df3fbf5ea706abe0318726e885e6"
IMAGE = PlatformImage(
    image="sample-repo",
    repository="sample-repo",
    index_digest="sha256:" + "1" * 64,
    platform="linux/amd64",
    digest=DIGEST,
)
REQUEST = {"repositoryName": "sample-repo", "imageId": {"imageDigest": DIGEST}, "maxResults": PAGE_SIZE}

# aws/aws-cli awscli/examples/ecr/describe-image-scan-findings.rst, as botocore parses it.
CLI_EXAMPLE: dict[str, Any] = {
    "imageScanFindings": {
        "findings": [
            {
                "name": "CVE-2019-5188",
                "description": "A code execution vulnerability exists in the directory rehashing functionality of "
                "E2fsprogs e2fsck 1.45.4. A specially crafted ext4 directory can cause an out-of-bounds write on the "
                "stack, resulting in code execution. An attacker can corrupt a partition to trigger this vulnerability.",
                "uri": "http://people.ubuntu.com/~ubuntu-security/cve/CVE-2019-5188",
                "severity": "MEDIUM",
                "attributes": [
                    {"key": "package_version", "value": "1.44.1-1ubuntu1.1"},
                    {"key": "package_name", "value": "e2fsprogs"},
                    {"key": "CVSS2_VECTOR", "value": "AV:L/AC:L/Au:N/C:P/I:P/A:P"},
                    {"key": "CVSS2_SCORE", "value": "4.6"},
                ],
            }
        ],
        "imageScanCompletedAt": datetime.fromtimestamp(1579839105.0, UTC),
        "vulnerabilitySourceUpdatedAt": datetime.fromtimestamp(1579811117.0, UTC),
        "findingSeverityCounts": {"MEDIUM": 1},
    },
    "registryId": "123456789012",
    "repositoryName": "sample-repo",
    "imageId": {"imageDigest": DIGEST},
    "imageScanStatus": {"status": "COMPLETE", "description": "The scan was completed successfully."},
}


def enhanced_finding(
    vulnerability_id: str, severity: str, packages: list[tuple[str, str]], status: str = "ACTIVE"
) -> dict[str, Any]:
    """An EnhancedImageScanFinding as the API reference lays it out (Amazon Inspector's finding)."""
    return {
        "awsAccountId": "123456789012",
        "description": "Improper handling of HTTP/2 CONTINUATION frames.",
        "findingArn": f"arn:aws:inspector2:us-east-1:123456789012:finding/{vulnerability_id.lower()}",
        "firstObservedAt": datetime(2024, 4, 4, tzinfo=UTC),
        "lastObservedAt": datetime(2024, 4, 5, tzinfo=UTC),
        "packageVulnerabilityDetails": {
            "cvss": [
                {
                    "baseScore": 7.5,
                    "scoringVector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H",
                    "source": "NVD",
                    "version": "3.1",
                }
            ],
            "referenceUrls": [f"https://nvd.nist.gov/vuln/detail/{vulnerability_id}"],
            "source": "NVD",
            "sourceUrl": f"https://nvd.nist.gov/vuln/detail/{vulnerability_id}",
            "vendorSeverity": severity,
            "vulnerabilityId": vulnerability_id,
            "vulnerablePackages": [
                {"name": name, "version": version, "packageManager": "GOBINARY", "filePath": "usr/local/bin/kube-proxy"}
                for name, version in packages
            ],
        },
        "remediation": {"recommendation": {"text": "Update golang.org/x/net"}},
        "resources": [
            {
                "details": {
                    "awsEcrContainerImage": {
                        "architecture": "amd64",
                        "imageHash": DIGEST,
                        "platform": "LINUX",
                        "registry": "123456789012",
                        "repositoryName": "sample-repo",
                    }
                },
                "id": f"arn:aws:ecr:us-east-1:123456789012:repository/sample-repo/{DIGEST}",
                "type": "AWS_ECR_CONTAINER_IMAGE",
            }
        ],
        "score": 7.5,
        "severity": severity,
        "status": status,
        "title": f"{vulnerability_id} - golang.org/x/net",
        "type": "PACKAGE_VULNERABILITY",
        "updatedAt": datetime(2024, 4, 5, tzinfo=UTC),
        "fixAvailable": "YES",
        "exploitAvailable": "NO",
    }


def answer(
    status: str,
    *,
    findings: list[dict[str, Any]] | None = None,
    enhanced: list[dict[str, Any]] | None = None,
    next_token: str | None = None,
    description: str = "",
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "registryId": "123456789012",
        "repositoryName": "sample-repo",
        "imageId": {"imageDigest": DIGEST},
        "imageScanStatus": {"status": status, "description": description},
    }
    if findings is not None or enhanced is not None:
        body["imageScanFindings"] = {"imageScanCompletedAt": datetime(2024, 4, 5, tzinfo=UTC)}
        if findings is not None:
            body["imageScanFindings"]["findings"] = findings
        if enhanced is not None:
            body["imageScanFindings"]["enhancedFindings"] = enhanced
    if next_token:
        body["nextToken"] = next_token
    return body


def basic(name: str, severity: str = "HIGH", package: str = "openssl", version: str = "1.1.1") -> dict[str, Any]:
    return {
        "name": name,
        "severity": severity,
        "uri": f"https://cve.mitre.org/cgi-bin/cvename.cgi?name={name}",
        "attributes": [{"key": "package_version", "value": version}, {"key": "package_name", "value": package}],
    }


@pytest.fixture
def ecr() -> Any:
    client = boto3.client("ecr", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        client.stubber = stubber
        yield client
        stubber.assert_no_pending_responses()


def test_the_cli_example_is_read_whole(ecr: Any) -> None:
    ecr.stubber.add_response("describe_image_scan_findings", CLI_EXAMPLE, REQUEST)
    scan = EcrFindingsScanner(ecr).read_scan(IMAGE)
    assert scan.status is ScanStatus.COMPLETE and scan.registry_status == "COMPLETE"
    assert [(f.id, f.severity, f.package, f.version) for f in scan.findings] == [
        ("CVE-2019-5188", Severity.MEDIUM, "e2fsprogs", "1.44.1-1ubuntu1.1")
    ]
    assert scan.completed_at == datetime.fromtimestamp(1579839105.0, UTC)


def test_enhanced_findings_are_read_by_vulnerability_id_one_per_package_and_closed_ones_left_out(ecr: Any) -> None:
    enhanced = [
        enhanced_finding("CVE-2023-45288", "HIGH", [("golang.org/x/net", "v0.17.0"), ("golang.org/x/net", "v0.19.0")]),
        enhanced_finding("GHSA-4v7x-pqxf-cx7m", "UNTRIAGED", [("google.golang.org/protobuf", "v1.31.0")]),
        enhanced_finding("CVE-2022-41723", "HIGH", [("golang.org/x/net", "v0.5.0")], status="CLOSED"),
    ]
    ecr.stubber.add_response("describe_image_scan_findings", answer("ACTIVE", enhanced=enhanced), REQUEST)
    scan = EcrFindingsScanner(ecr).read_scan(IMAGE)
    assert scan.status is ScanStatus.COMPLETE and scan.registry_status == "ACTIVE"
    assert [(f.id, f.severity, f.version) for f in scan.findings] == [
        ("CVE-2023-45288", Severity.HIGH, "v0.17.0"),
        ("CVE-2023-45288", Severity.HIGH, "v0.19.0"),
        ("GHSA-4v7x-pqxf-cx7m", Severity.UNTRIAGED, "v1.31.0"),
    ]


def test_every_page_is_read_following_next_token(ecr: Any) -> None:
    pages = [
        answer("COMPLETE", findings=[basic(f"CVE-2024-{n:04d}") for n in range(1000)], next_token="t1"),
        answer("COMPLETE", findings=[basic(f"CVE-2024-{n:04d}") for n in range(1000, 2000)], next_token="t2"),
        answer("COMPLETE", findings=[basic("CVE-2024-9999", "CRITICAL")]),
    ]
    for n, page in enumerate(pages):
        ecr.stubber.add_response(
            "describe_image_scan_findings", page, {**REQUEST, **({"nextToken": f"t{n}"} if n else {})}
        )
    scan = EcrFindingsScanner(ecr).read_scan(IMAGE)
    assert len(scan.findings) == 2001 and scan.findings[-1].id == "CVE-2024-9999"


def test_a_list_longer_than_the_page_bound_is_not_read_as_complete(ecr: Any) -> None:
    for n in range(2):
        page = answer("COMPLETE", findings=[basic(f"CVE-2024-{n:04d}")], next_token=f"t{n + 1}")
        ecr.stubber.add_response(
            "describe_image_scan_findings", page, {**REQUEST, **({"nextToken": f"t{n}"} if n else {})}
        )
    scan = EcrFindingsScanner(ecr, max_pages=2).read_scan(IMAGE)
    assert scan.status is ScanStatus.UNAVAILABLE and not scan.findings and "more than 2 pages" in scan.detail


@pytest.mark.parametrize(
    ("registry_status", "status"),
    [
        ("IN_PROGRESS", ScanStatus.IN_PROGRESS),
        ("PENDING", ScanStatus.IN_PROGRESS),
        ("FAILED", ScanStatus.FAILED),
        ("UNSUPPORTED_IMAGE", ScanStatus.UNSUPPORTED_IMAGE),
        ("SCAN_ELIGIBILITY_EXPIRED", ScanStatus.UNAVAILABLE),
        ("FINDINGS_UNAVAILABLE", ScanStatus.UNAVAILABLE),
        ("LIMIT_EXCEEDED", ScanStatus.UNAVAILABLE),
    ],
)
def test_scans_without_findings_keep_their_state(ecr: Any, registry_status: str, status: ScanStatus) -> None:
    ecr.stubber.add_response(
        "describe_image_scan_findings", answer(registry_status, description=f"the scan is {registry_status}"), REQUEST
    )
    scan = EcrFindingsScanner(ecr).read_scan(IMAGE)
    assert scan.status is status and scan.registry_status == registry_status and not scan.findings
    assert scan.detail == f"the scan is {registry_status}"


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("ScanNotFoundException", ScanStatus.SCAN_NOT_FOUND),
        ("ImageNotFoundException", ScanStatus.IMAGE_NOT_FOUND),
        ("RepositoryNotFoundException", ScanStatus.IMAGE_NOT_FOUND),
    ],
)
def test_no_scan_and_no_image_are_states_of_the_image(ecr: Any, code: str, status: ScanStatus) -> None:
    ecr.stubber.add_client_error("describe_image_scan_findings", service_error_code=code, http_status_code=400)
    assert EcrFindingsScanner(ecr).read_scan(IMAGE).status is status


@pytest.mark.parametrize(("code", "http"), [("ThrottlingException", 400), ("ServerException", 500), ("Unknown", 503)])
def test_throttling_and_server_errors_are_worth_reading_again(ecr: Any, code: str, http: int) -> None:
    ecr.stubber.add_client_error("describe_image_scan_findings", service_error_code=code, http_status_code=http)
    with pytest.raises(ScannerUnavailableError, match="sample-repo"):
        EcrFindingsScanner(ecr).read_scan(IMAGE)


@pytest.mark.parametrize("code", ["AccessDeniedException", "InvalidParameterException", "ValidationException"])
def test_a_refused_read_is_an_error_not_a_state(ecr: Any, code: str) -> None:
    ecr.stubber.add_client_error("describe_image_scan_findings", service_error_code=code, http_status_code=400)
    with pytest.raises(ScannerError, match=code):
        EcrFindingsScanner(ecr).read_scan(IMAGE)


def test_throttled_then_in_progress_then_complete_within_the_bounded_wait(ecr: Any) -> None:
    ecr.stubber.add_client_error("describe_image_scan_findings", service_error_code="ThrottlingException")
    ecr.stubber.add_response("describe_image_scan_findings", answer("IN_PROGRESS"), REQUEST)
    ecr.stubber.add_response("describe_image_scan_findings", CLI_EXAMPLE, REQUEST)
    clock, sleeps = [0.0], []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock[0] += seconds

    scans = collect_scans(
        [IMAGE],
        EcrFindingsScanner(ecr),
        ScanWait(timeout_seconds=60, interval_seconds=5),
        clock=lambda: clock[0],
        sleep=sleep,
    )
    assert scans[IMAGE].status is ScanStatus.COMPLETE and sleeps == [5, 5]


def test_still_in_progress_when_the_wait_ends(ecr: Any) -> None:
    for _ in range(3):
        ecr.stubber.add_response("describe_image_scan_findings", answer("IN_PROGRESS"), REQUEST)
    clock = [0.0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    scans = collect_scans(
        [IMAGE],
        EcrFindingsScanner(ecr),
        ScanWait(timeout_seconds=10, interval_seconds=5),
        clock=lambda: clock[0],
        sleep=sleep,
    )
    assert scans[IMAGE].status is ScanStatus.IN_PROGRESS and "still in progress after 10 s" in scans[IMAGE].detail


@pytest.mark.parametrize(
    ("field", "value", "why"),
    [
        ("name", "CVE-2019-5188\n", "not an advisory id"),
        ("name", "CVE-\u0662\u0660\u0661\u0669-5188", "not an advisory id"),
        ("name", "X" * 10_000, "not an advisory id"),
        ("severity", "SEVERE", "not one ECR documents"),
    ],
)
def test_a_finding_that_does_not_fit_makes_the_scan_unavailable_never_shorter(
    ecr: Any, field: str, value: str, why: str
) -> None:
    page = copy.deepcopy(CLI_EXAMPLE)
    page["imageScanFindings"]["findings"].append({**basic("CVE-2024-0001"), field: value})
    ecr.stubber.add_response("describe_image_scan_findings", page, REQUEST)
    scan = EcrFindingsScanner(ecr).read_scan(IMAGE)
    assert scan.status is ScanStatus.UNAVAILABLE and not scan.findings
    assert "finding 2" in scan.detail and why in scan.detail and len(scan.detail) <= 300


def test_a_package_that_does_not_fit_is_left_out_of_the_finding(ecr: Any) -> None:
    page = answer("COMPLETE", findings=[basic("CVE-2024-0001", package="bad\x1b[31mname", version="v" * 300)])
    ecr.stubber.add_response("describe_image_scan_findings", page, REQUEST)
    (found,) = EcrFindingsScanner(ecr).read_scan(IMAGE).findings
    assert found.id == "CVE-2024-0001" and found.package is None and found.version is None


def test_an_answer_for_another_image_is_not_taken(ecr: Any) -> None:
    page = copy.deepcopy(CLI_EXAMPLE)
    page["imageId"] = {"imageDigest": "sha256:" + "f" * 64}
    ecr.stubber.add_response("describe_image_scan_findings", page, REQUEST)
    scan = EcrFindingsScanner(ecr).read_scan(IMAGE)
    assert scan.status is ScanStatus.UNAVAILABLE and "not " + DIGEST in scan.detail


def test_a_status_this_reader_does_not_know_is_unavailable_and_named(ecr: Any) -> None:
    ecr.stubber.add_response("describe_image_scan_findings", answer("SOME_NEW_STATUS", description="new"), REQUEST)
    scan = EcrFindingsScanner(ecr).read_scan(IMAGE)
    assert scan.status is ScanStatus.UNAVAILABLE and scan.registry_status == "SOME_NEW_STATUS"
    assert "SOME_NEW_STATUS is not one this reader knows" in scan.detail
