"""The ECR findings adapter against moto's ECR, through botocore's real parsing and retry path.

Where moto is faithful: the request shapes, ``ScanNotFoundException`` for an image never scanned,
``ImageNotFoundException`` / ``RepositoryNotFoundException``, a COMPLETE basic answer after
``StartImageScan`` (moto's fixed finding has the AWS CLI example's shape), results set through moto's
API (an enhanced answer), and the wire format botocore parses (timestamps). Where it is not (no scan on
push, no IN_PROGRESS, no pages), tests/unit/findings/test_ecr_stubber.py uses Stubber answers.
Throttling: a ``before-send`` hook answers ECR's throttling error for the first attempts, and
botocore's retry handler (the production client's adaptive mode) decides, as it would against ECR.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from botocore.awsrequest import AWSResponse
from botocore.retries.bucket import TokenBucket
from botocore.retries.standard import ExponentialBackoff
from moto.core.botocore_stubber import MockRawResponse

from eksd_adopt.archives.errors import ManifestConflictError
from eksd_adopt.archives.s3store import S3ArchiveStore
from eksd_adopt.findings import (
    FindingsRef,
    PlatformImage,
    ScanStatus,
    ScanWait,
    Severity,
    collect_scans,
    findings_key,
    load_findings,
    scan_release,
    store_findings,
    summarize,
)
from eksd_adopt.findings.ecr import EcrFindingsScanner, ecr_findings_scanner
from eksd_adopt.findings.errors import ScannerUnavailableError
from eksd_adopt.workflow.documents import BucketDocuments
from tests.integration.findings.conftest import REGION, client, push_platform_image, unique


@pytest.fixture
def ecr(moto_url: str) -> Any:
    return client("ecr", moto_url)


def staged(ecr: Any, name: str, arches: tuple[str, ...] = ("amd64",)) -> list[PlatformImage]:
    repository = f"eksd/staging/{name}"
    ecr.create_repository(repositoryName=repository, imageScanningConfiguration={"scanOnPush": True})
    return [
        PlatformImage(
            image=name,
            repository=repository,
            index_digest="sha256:" + "1" * 64,
            platform=f"linux/{arch}",
            digest=push_platform_image(ecr, repository, arch),
        )
        for arch in arches
    ]


def test_an_image_never_scanned_is_scan_not_found_and_a_scanned_one_complete(ecr: Any) -> None:
    # moto does not scan on push (ECR would answer IN_PROGRESS, then COMPLETE): until StartImageScan
    # there is no scan, which is what ECR answers for a repository without scan on push.
    image, other = staged(ecr, unique("eks-distro/kubernetes/kube-proxy"), ("amd64", "arm64"))
    scanner = EcrFindingsScanner(ecr)
    assert scanner.read_scan(image).status is ScanStatus.SCAN_NOT_FOUND
    ecr.start_image_scan(repositoryName=image.repository, imageId={"imageDigest": image.digest})
    scan = scanner.read_scan(image)
    # moto's fixed basic finding, shaped as the AWS CLI's example: name, severity, package attributes.
    assert scan.status is ScanStatus.COMPLETE and scan.registry_status == "COMPLETE"
    assert [(f.id, f.severity, f.package, f.version) for f in scan.findings] == [
        ("CVE-9999-9999", Severity.HIGH, "moto_fake", "9.9.9")
    ]
    assert isinstance(scan.completed_at, datetime)  # botocore parsed the wire timestamp
    assert scanner.read_scan(other).status is ScanStatus.SCAN_NOT_FOUND


def test_an_absent_image_or_repository_is_image_not_found(ecr: Any) -> None:
    (image,) = staged(ecr, unique("eks-distro/etcd-io/etcd"))
    scanner = EcrFindingsScanner(ecr)
    absent = image.model_copy(update={"digest": "sha256:" + "e" * 64})
    assert scanner.read_scan(absent).status is ScanStatus.IMAGE_NOT_FOUND
    elsewhere = image.model_copy(update={"repository": "eksd/staging/not-there"})
    assert scanner.read_scan(elsewhere).status is ScanStatus.IMAGE_NOT_FOUND


def test_an_enhanced_answer_set_through_moto_is_read_by_vulnerability_id(ecr: Any, moto_url: str) -> None:
    (image,) = staged(ecr, unique("eks-distro/coredns/coredns"))
    ecr.start_image_scan(repositoryName=image.repository, imageId={"imageDigest": image.digest})
    result = {
        "registryId": "123456789012",
        "repositoryName": image.repository,
        "imageId": {"imageDigest": image.digest},
        "imageScanStatus": {"status": "ACTIVE", "description": "Continuous scan is selected for image."},
        "imageScanFindings": {
            "imageScanCompletedAt": "2024-04-05T10:00:00Z",
            "findingSeverityCounts": {"HIGH": 1, "UNTRIAGED": 1},
            "enhancedFindings": [
                {
                    "awsAccountId": "123456789012",
                    "findingArn": "arn:aws:inspector2:us-east-1:123456789012:finding/0001",
                    "packageVulnerabilityDetails": {
                        "vulnerabilityId": "CVE-2023-45288",
                        "vulnerablePackages": [{"name": "golang.org/x/net", "version": "v0.17.0"}],
                    },
                    "severity": "HIGH",
                    "status": "ACTIVE",
                    "type": "PACKAGE_VULNERABILITY",
                },
                {
                    "awsAccountId": "123456789012",
                    "findingArn": "arn:aws:inspector2:us-east-1:123456789012:finding/0002",
                    "packageVulnerabilityDetails": {"vulnerabilityId": "GHSA-4v7x-pqxf-cx7m", "vulnerablePackages": []},
                    "severity": "UNTRIAGED",
                    "status": "ACTIVE",
                    "type": "PACKAGE_VULNERABILITY",
                },
            ],
        },
    }
    response = httpx.post(
        f"{moto_url}/moto-api/static/ecr/scan-finding-results", json={"results": [result], "region": REGION}
    )
    assert response.status_code == 201, response.text
    scan = EcrFindingsScanner(ecr).read_scan(image)
    assert scan.status is ScanStatus.COMPLETE and scan.registry_status == "ACTIVE"
    assert [(f.id, f.severity, f.package) for f in scan.findings] == [
        ("CVE-2023-45288", Severity.HIGH, "golang.org/x/net"),
        ("GHSA-4v7x-pqxf-cx7m", Severity.UNTRIAGED, None),
    ]
    assert scan.completed_at == datetime(2024, 4, 5, 10, tzinfo=UTC)


class Throttle:
    """Answers ECR's throttling error for the first ``times`` attempts; counts every attempt botocore makes."""

    BODY = '{"__type":"ThrottlingException","message":"Rate exceeded"}'

    def __init__(self, times: int) -> None:
        self.times, self.attempts = times, 0

    def __call__(self, request: Any, **_: Any) -> AWSResponse | None:
        self.attempts += 1
        if self.attempts > self.times:
            return None
        return AWSResponse(
            request.url, 400, {"Content-Type": "application/x-amz-json-1.1"}, MockRawResponse(self.BODY.encode())
        )


@pytest.fixture
def throttled(aws_env: str, ecr: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    # Shorter waits between attempts, and no pacing by adaptive mode's token bucket (it slows sends after
    # throttling); whether to retry, and how often, is still botocore's decision.
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.01)
    monkeypatch.setattr(TokenBucket, "acquire", lambda self, amount=1, block=True: True)

    def make(times: int) -> tuple[EcrFindingsScanner, Throttle]:
        scanner = ecr_findings_scanner()  # the production client: adaptive retry mode, 8 attempts
        throttle = Throttle(times)
        scanner.client.meta.events.register_first("before-send.ecr.DescribeImageScanFindings", throttle)
        return scanner, throttle

    return make


def test_throttling_is_retried_by_botocore_and_the_scan_read(ecr: Any, throttled: Any) -> None:
    (image,) = staged(ecr, unique("eks-distro/kubernetes/kube-scheduler"))
    ecr.start_image_scan(repositoryName=image.repository, imageId={"imageDigest": image.digest})
    scanner, throttle = throttled(3)
    assert scanner.read_scan(image).status is ScanStatus.COMPLETE
    assert throttle.attempts == 4


def test_persistent_throttling_is_unavailable_never_no_findings(ecr: Any, throttled: Any) -> None:
    (image,) = staged(ecr, unique("eks-distro/kubernetes/kube-apiserver"))
    ecr.start_image_scan(repositoryName=image.repository, imageId={"imageDigest": image.digest})
    scanner, throttle = throttled(10_000)
    with pytest.raises(ScannerUnavailableError, match="ThrottlingException"):
        scanner.read_scan(image)
    assert throttle.attempts == 9  # the first attempt and the 8 retries the client allows (adaptive mode)
    scans = collect_scans([image], scanner, ScanWait(timeout_seconds=0))
    assert scans[image].status is ScanStatus.UNAVAILABLE and not scans[image].findings
    assert "could not be read" in scans[image].detail


def test_a_release_scanned_and_its_document_stored_write_once_in_the_bucket(ecr: Any, moto_url: str) -> None:
    """scan_release over moto's ECR, the document in moto's S3 through the workflow's document store."""
    proxy = staged(ecr, unique("eks-distro/kubernetes/kube-proxy"), ("amd64", "arm64"))
    for image in proxy[:1]:
        ecr.start_image_scan(repositoryName=image.repository, imageId={"imageDigest": image.digest})
    findings = scan_release("1-20-3", proxy, EcrFindingsScanner(ecr), wait=ScanWait(timeout_seconds=0))
    assert [s.status for s in findings.scans] == [ScanStatus.COMPLETE, ScanStatus.SCAN_NOT_FOUND]
    s3 = client("s3", moto_url)
    bucket = unique("eksd-findings-")
    s3.create_bucket(Bucket=bucket)
    documents = BucketDocuments(bucket, lambda name: S3ArchiveStore(name, client=s3))
    ref = store_findings(findings, documents, prefix="eksd", channel="1-20", number=3)
    assert ref.location == f"s3://{bucket}/{findings_key('eksd', '1-20', 3)}"
    head = s3.head_object(Bucket=bucket, Key=findings_key("eksd", "1-20", 3))
    assert head["ContentType"] == "application/json"
    assert store_findings(findings, documents, prefix="eksd", channel="1-20", number=3) == ref  # same bytes: fine
    other = findings.model_copy(update={"scans": findings.scans[:1]})
    with pytest.raises(ManifestConflictError):
        store_findings(other, documents, prefix="eksd", channel="1-20", number=3)
    assert load_findings(ref.location, documents, release_id="1-20-3", sha256=ref.sha256) == findings
    summary = summarize(findings, FindingsRef(location=ref.location, sha256=ref.sha256))
    assert not summary.complete and summary.incomplete_scans == 1
