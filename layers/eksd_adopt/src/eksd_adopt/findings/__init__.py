"""Vulnerability findings in the approval request: scans of every staged platform image, the delta, the threshold.

Pure domain (no boto3 here but in :mod:`eksd_adopt.findings.ecr`, the ECR adapter of the scanner port):

- :mod:`~eksd_adopt.findings.model`: severities, scan states, findings, platform images, image scans;
- :mod:`~eksd_adopt.findings.scan`: :func:`scan_release`, reading every scan with a bounded wait;
- :mod:`~eksd_adopt.findings.delta`: new and fixed findings against the release the stage runs;
- :mod:`~eksd_adopt.findings.document`: the full document, stored write-once beside the staged manifest;
- :mod:`~eksd_adopt.findings.summary`: the bounded summary for the state, the approval request and events;
- :mod:`~eksd_adopt.findings.gate`: a stage's ``block_on`` threshold and the approver's acknowledgments.
"""

from eksd_adopt.findings.delta import DeltaFinding, FindingsDelta, findings_delta
from eksd_adopt.findings.document import FindingsRef, ReleaseFindings, findings_key, load_findings, store_findings
from eksd_adopt.findings.errors import (
    FindingsDocumentError,
    FindingsError,
    FindingsNotAcknowledgedError,
    ScannerError,
    ScannerUnavailableError,
)
from eksd_adopt.findings.gate import (
    INCOMPLETE_SCAN,
    AcknowledgmentCheck,
    FindingsRule,
    RequiredAcknowledgments,
    check_acknowledgments,
    check_findings,
    parse_accepted,
    required_acknowledgments,
)
from eksd_adopt.findings.model import (
    Finding,
    ImageScan,
    PlatformImage,
    ScanStatus,
    Severity,
    check_finding_id,
    is_finding_id,
    severity_counts,
)
from eksd_adopt.findings.ports import FindingsDocuments, FindingsScanner
from eksd_adopt.findings.scan import PreviousRelease, ScanWait, collect_scans, platform_images, scan_release
from eksd_adopt.findings.summary import FindingsSummary, ImageSummary, summarize

__all__ = [
    "INCOMPLETE_SCAN",
    "AcknowledgmentCheck",
    "DeltaFinding",
    "Finding",
    "FindingsDelta",
    "FindingsDocumentError",
    "FindingsDocuments",
    "FindingsError",
    "FindingsNotAcknowledgedError",
    "FindingsRef",
    "FindingsRule",
    "FindingsScanner",
    "FindingsSummary",
    "ImageScan",
    "ImageSummary",
    "PlatformImage",
    "PreviousRelease",
    "ReleaseFindings",
    "RequiredAcknowledgments",
    "ScanStatus",
    "ScanWait",
    "ScannerError",
    "ScannerUnavailableError",
    "Severity",
    "check_acknowledgments",
    "check_finding_id",
    "check_findings",
    "collect_scans",
    "findings_delta",
    "findings_key",
    "is_finding_id",
    "load_findings",
    "parse_accepted",
    "platform_images",
    "required_acknowledgments",
    "scan_release",
    "severity_counts",
    "store_findings",
    "summarize",
]
