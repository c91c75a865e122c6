"""ECR's scan findings through boto3 (``DescribeImageScanFindings``): the ECR adapter of the findings scanner port.

One :meth:`EcrFindingsScanner.read_scan` reads one platform image's scan, by digest, every page of it.
Waiting for a scan to complete is the use case's (:func:`eksd_adopt.findings.scan.collect_scans`), so
every read here is one look at the scan as it stands. What ECR answers, and how it is read:

- ``imageScanStatus.status`` (API reference, ImageScanStatus): COMPLETE (basic) and ACTIVE (enhanced,
  continuous scanning) have findings; IN_PROGRESS and PENDING are not done yet; FAILED,
  UNSUPPORTED_IMAGE (e.g. an image FROM scratch: "Amazon ECR does not support scanning images built
  from the Docker scratch image", ECR User Guide, image-scanning-troubleshooting) and the rest
  (SCAN_ELIGIBILITY_EXPIRED, FINDINGS_UNAVAILABLE, LIMIT_EXCEEDED, IMAGE_ARCHIVED, IMAGE_SIZE_EXCEEDED)
  are scans without findings to show, each kept as such.
- Basic scanning lists ``imageScanFindings.findings[]``: ``name`` ("usually a CVE number"),
  ``severity`` (INFORMATIONAL | LOW | MEDIUM | HIGH | CRITICAL | UNDEFINED) and ``attributes`` with
  ``package_name`` and ``package_version`` (the AWS CLI's example, aws/aws-cli
  awscli/examples/ecr/describe-image-scan-findings.rst). Enhanced scanning (Amazon Inspector) lists
  ``imageScanFindings.enhancedFindings[]``: ``packageVulnerabilityDetails.vulnerabilityId``, its
  ``vulnerablePackages[]`` (name, version), ``severity`` (Inspector's, which adds UNTRIAGED) and
  ``status`` (ACTIVE | SUPPRESSED | CLOSED: a CLOSED finding is remediated and left out). API
  reference: ImageScanFinding, EnhancedImageScanFinding, PackageVulnerabilityDetails.
- Pages of up to ``maxResults`` (1-1000; 100 when not given) linked by ``nextToken``
  (API reference, DescribeImageScanFindings); at most ``max_pages`` are read, a longer list is UNAVAILABLE.
- ``ScanNotFoundException``: no scan of that image (scan on push off, or one ECR does not scan: basic
  scanning has been reported to leave arm64 images unscanned, aws/containers-roadmap#2656).
  ``ImageNotFoundException`` / ``RepositoryNotFoundException``: the image is not there.
- Throttling and server errors are retried by botocore first (the client's adaptive retry mode);
  one that still surfaces is :class:`ScannerUnavailableError` (the use case reads again next round).
  Anything else refused (access denied: the function lacks ``ecr:DescribeImageScanFindings`` on the
  repository; an invalid request) is :class:`ScannerError`, not a state of the image.

A scan is read whole or not at all: a finding whose id or severity does not fit makes the scan
UNAVAILABLE (naming the finding), never a scan with that finding quietly left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from eksd_adopt.findings.errors import ScannerError, ScannerUnavailableError
from eksd_adopt.findings.model import (
    Finding,
    ImageScan,
    PlatformImage,
    ScanStatus,
    Severity,
    is_finding_id,
    package_text,
    printable,
    shown,
)

if TYPE_CHECKING:
    from mypy_boto3_ecr import ECRClient

PAGE_SIZE = 1000  # the API's maximum maxResults
MAX_PAGES = 20  # 20,000 findings for one platform image: far beyond any real image
MAX_FINDINGS_PER_PAGE = 1000

_STATUSES = {
    "COMPLETE": ScanStatus.COMPLETE,
    "ACTIVE": ScanStatus.COMPLETE,
    "IN_PROGRESS": ScanStatus.IN_PROGRESS,
    "PENDING": ScanStatus.IN_PROGRESS,
    "FAILED": ScanStatus.FAILED,
    "UNSUPPORTED_IMAGE": ScanStatus.UNSUPPORTED_IMAGE,
    "IMAGE_SIZE_EXCEEDED": ScanStatus.UNSUPPORTED_IMAGE,
    "SCAN_ELIGIBILITY_EXPIRED": ScanStatus.UNAVAILABLE,
    "FINDINGS_UNAVAILABLE": ScanStatus.UNAVAILABLE,
    "LIMIT_EXCEEDED": ScanStatus.UNAVAILABLE,
    "IMAGE_ARCHIVED": ScanStatus.UNAVAILABLE,
}
# Error codes of a read that may work later (botocore's own throttling codes, and ECR's ServerException).
_TRANSIENT = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ServerException",
        "ServiceUnavailableException",
        "ServiceUnavailable",
        "InternalFailure",
        "InternalServerError",
    }
)
_STATUS_WORD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ_")


class _Unreadable(Exception):
    """A page whose content does not fit: the scan becomes UNAVAILABLE with this message."""


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _http_status(exc: ClientError) -> int:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return status if isinstance(status, int) else 0


def _registry_status(value: object) -> str | None:
    if isinstance(value, str) and 0 < len(value) <= 40 and value[0] != "_" and set(value) <= _STATUS_WORD:
        return value
    return None


def _severity(value: object, where: str) -> Severity:
    if isinstance(value, str) and value in Severity.__members__:
        return Severity(value)
    raise _Unreadable(f"{where} has severity {shown(value)}, not one ECR documents")


def _checked_id(value: object, where: str) -> str:
    if not is_finding_id(value):
        raise _Unreadable(f"{where} has the name {shown(value)}, which is not an advisory id")
    return str(value)


def _list(container: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value = container.get(key) or []
    if not isinstance(value, list):
        raise _Unreadable(f"{where}.{key} is not a list")
    if len(value) > MAX_FINDINGS_PER_PAGE:
        raise _Unreadable(f"{where}.{key} has {len(value)} entries on one page (at most {MAX_FINDINGS_PER_PAGE})")
    return value


def basic_findings(page: Mapping[str, Any]) -> list[Finding]:
    """``imageScanFindings.findings`` of one page (basic scanning)."""
    found = []
    for n, item in enumerate(_list(page, "findings", "imageScanFindings")):
        where = f"finding {n + 1}"
        if not isinstance(item, Mapping):
            raise _Unreadable(f"{where} is not an object")
        attributes = {a.get("key"): a.get("value") for a in _list(item, "attributes", where) if isinstance(a, Mapping)}
        found.append(
            Finding(
                id=_checked_id(item.get("name"), where),
                severity=_severity(item.get("severity"), where),
                package=package_text(attributes.get("package_name")),
                version=package_text(attributes.get("package_version")),
            )
        )
    return found


def enhanced_findings(page: Mapping[str, Any]) -> list[Finding]:
    """``imageScanFindings.enhancedFindings`` of one page (enhanced scanning), one finding per vulnerable package."""
    found = []
    for n, item in enumerate(_list(page, "enhancedFindings", "imageScanFindings")):
        where = f"enhanced finding {n + 1}"
        if not isinstance(item, Mapping):
            raise _Unreadable(f"{where} is not an object")
        if item.get("status") == "CLOSED":
            continue  # remediated: Inspector closes a finding once the package is fixed
        details = item.get("packageVulnerabilityDetails") or {}
        if not isinstance(details, Mapping):
            raise _Unreadable(f"{where}.packageVulnerabilityDetails is not an object")
        finding_id = _checked_id(details.get("vulnerabilityId"), where)
        severity = _severity(item.get("severity"), where)
        packages = [p for p in _list(details, "vulnerablePackages", where) if isinstance(p, Mapping)]
        for package in packages or [{}]:
            found.append(
                Finding(
                    id=finding_id,
                    severity=severity,
                    package=package_text(package.get("name")),
                    version=package_text(package.get("version")),
                )
            )
    return found


class EcrFindingsScanner:
    """Reads ECR's scan of a platform image by digest (``imageId={"imageDigest": ...}``), page by page."""

    def __init__(self, client: ECRClient | Any, *, registry_id: str | None = None, max_pages: int = MAX_PAGES) -> None:
        self.client = client
        self.registry_id = registry_id
        self.max_pages = max_pages

    def read_scan(self, image: PlatformImage) -> ImageScan:
        request: dict[str, Any] = {
            "repositoryName": image.repository,
            "imageId": {"imageDigest": image.digest},
            "maxResults": PAGE_SIZE,
        }
        if self.registry_id:
            request["registryId"] = self.registry_id
        findings: list[Finding] = []
        status: ScanStatus | None = None
        registry_status: str | None = None
        detail = ""
        completed_at: datetime | None = None
        for _ in range(self.max_pages):
            page = self._page(image, request)
            if isinstance(page, ImageScan):
                return page
            if status is None:
                scan_status = page.get("imageScanStatus") or {}
                raw = scan_status.get("status") if isinstance(scan_status, Mapping) else None
                registry_status = _registry_status(raw)
                status = _STATUSES.get(registry_status or "", ScanStatus.UNAVAILABLE)
                detail = printable(scan_status.get("description") if isinstance(scan_status, Mapping) else "")
                if registry_status is not None and registry_status not in _STATUSES:
                    detail = printable(f"ECR status {registry_status} is not one this reader knows: {detail}")
                if status is not ScanStatus.COMPLETE:
                    return ImageScan(target=image, status=status, registry_status=registry_status, detail=detail)
            image_id = page.get("imageId")
            answered = image_id.get("imageDigest") if isinstance(image_id, Mapping) else None
            if answered is not None and answered != image.digest:
                return self._unavailable(image, f"ECR answered for {shown(answered, 80)}, not {image.digest}")
            body = page.get("imageScanFindings") or {}
            if not isinstance(body, Mapping):
                return self._unavailable(image, "imageScanFindings is not an object", registry_status)
            try:
                findings.extend(basic_findings(body))
                findings.extend(enhanced_findings(body))
            except _Unreadable as exc:
                return self._unavailable(image, str(exc), registry_status)
            stamp = body.get("imageScanCompletedAt")
            completed_at = completed_at or (stamp if isinstance(stamp, datetime) else None)
            token = page.get("nextToken")
            if not token:
                return ImageScan(
                    target=image,
                    status=ScanStatus.COMPLETE,
                    registry_status=registry_status,
                    detail=detail,
                    completed_at=completed_at,
                    findings=_distinct(findings),
                )
            request["nextToken"] = token
        return self._unavailable(
            image, f"more than {self.max_pages} pages of {PAGE_SIZE} findings: not read whole", registry_status
        )

    def _page(self, image: PlatformImage, request: dict[str, Any]) -> dict[str, Any] | ImageScan:
        where = f"DescribeImageScanFindings {image.repository}@{image.digest}"
        try:
            page = self.client.describe_image_scan_findings(**request)
        except ClientError as exc:
            code = _code(exc)
            if code == "ScanNotFoundException":
                return ImageScan(
                    target=image,
                    status=ScanStatus.SCAN_NOT_FOUND,
                    detail="no scan of this image (is scan on push on for the repository?)",
                )
            if code in ("ImageNotFoundException", "RepositoryNotFoundException"):
                return ImageScan(target=image, status=ScanStatus.IMAGE_NOT_FOUND, detail=f"{code}: not in the registry")
            if code in _TRANSIENT or _http_status(exc) in (429, 500, 502, 503, 504):
                raise ScannerUnavailableError(f"{where}: {code or _http_status(exc)}") from exc
            raise ScannerError(f"{where}: {code}: {printable(str(exc), 200)}") from exc
        except BotoCoreError as exc:
            raise ScannerUnavailableError(f"{where}: {printable(str(exc), 200)}") from exc
        if not isinstance(page, dict):
            return self._unavailable(image, "the answer is not an object")
        return dict(page)

    @staticmethod
    def _unavailable(image: PlatformImage, why: str, registry_status: str | None = None) -> ImageScan:
        return ImageScan(
            target=image, status=ScanStatus.UNAVAILABLE, registry_status=registry_status, detail=printable(why)
        )


def _distinct(findings: list[Finding]) -> tuple[Finding, ...]:
    """One finding per (id, package, version), at its highest severity; sorted, so the same scan gives the same document."""
    best: dict[tuple[str, str, str], Finding] = {}
    for finding in findings:
        key = (finding.id, finding.package or "", finding.version or "")
        seen = best.get(key)
        if seen is None or finding.severity.rank > seen.severity.rank:
            best[key] = finding
    return tuple(best[k] for k in sorted(best))


def ecr_findings_scanner(**config: Any) -> EcrFindingsScanner:
    """The scanner over a boto3 ECR client (region and credentials from the environment, as in Lambda).

    The same retry configuration as the image package's ECR client: adaptive mode, 8 attempts.
    """
    import boto3
    from botocore.config import Config

    return EcrFindingsScanner(
        boto3.client("ecr", config=Config(retries={"mode": "adaptive", "max_attempts": 8}, **config))
    )
