"""Builders for the findings tests: platform images, scans and an in-memory, write-once document store."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from eksd_adopt.approvals.models import ApprovalRequest, ApprovalVote
from eksd_adopt.findings import (
    Finding,
    FindingsRef,
    FindingsRule,
    ImageScan,
    PlatformImage,
    ReleaseFindings,
    ScanStatus,
    Severity,
    findings_delta,
    required_acknowledgments,
    summarize,
)
from eksd_adopt.findings.errors import FindingsDocumentError


def digest(*parts: object) -> str:
    return "sha256:" + hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()


def platform_image(image: str, platform: str = "linux/amd64", release: str = "1-20-1") -> PlatformImage:
    """A staged platform image; its digests differ per release (each release is pushed anew)."""
    return PlatformImage(
        image=image,
        repository=f"eksd/staging/{image}",
        index_digest=digest(image, release),
        platform=platform,
        digest=digest(image, platform, release),
    )


def finding(finding_id: str, severity: Severity = Severity.HIGH, package: str | None = "openssl") -> Finding:
    return Finding(id=finding_id, severity=severity, package=package, version="1.0" if package else None)


def scan(
    image: str,
    findings: Iterable[Finding] = (),
    *,
    platform: str = "linux/amd64",
    release: str = "1-20-1",
    status: ScanStatus = ScanStatus.COMPLETE,
    detail: str = "",
) -> ImageScan:
    return ImageScan(
        target=platform_image(image, platform, release), status=status, detail=detail, findings=tuple(findings)
    )


class MemoryDocuments:
    """The document store port in memory, write-once as the S3 adapter is: different bytes are refused."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.puts: list[tuple[str, bool, str]] = []

    def location(self, key: str) -> str:
        return f"s3://bucket/{key}"

    def put(self, key: str, body: bytes, *, write_once: bool = False, content_type: str = "application/yaml") -> str:
        self.puts.append((key, write_once, content_type))
        if write_once and key in self.objects and self.objects[key] != body:
            raise FindingsDocumentError(f"{self.location(key)} exists with different content")
        self.objects[key] = body
        return self.location(key)

    def get(self, location: str) -> bytes:
        return self.objects[location.removeprefix("s3://bucket/")]


def release_findings(
    current: list[ImageScan], baseline: list[ImageScan] | None = None, release_id: str = "1-20-3"
) -> ReleaseFindings:
    """A release's findings document with its delta against ``baseline`` (release 1-20-1, when given)."""
    return ReleaseFindings(
        release_id=release_id,
        baseline="stored" if baseline is not None else "none",
        scans=tuple(current),
        delta=findings_delta(current, baseline, "1-20-1" if baseline is not None else None),
    )


def gate_payload(
    findings: ReleaseFindings | None = None,
    rule: FindingsRule | None = None,
    *,
    release_id: str = "1-20-3",
    components: dict[str, list[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """One gate as the approvals endpoint lists it (``pending_approvals``), with findings where the scan step put them."""
    request = ApprovalRequest(
        release_id=release_id,
        stage="prod",
        channel="1-20",
        number=int(release_id.rsplit("-", 1)[1]),
        kubernetes_version="v1.20.5",
        task_token="secret-token",
        required_approvals=2,
        requested_at=datetime(2024, 4, 5, 10, tzinfo=UTC),
        expires_at=datetime(2024, 4, 12, 10, tzinfo=UTC),
        votes=[
            ApprovalVote(
                approver="arn:aws:sts::123456789012:assumed-role/ReleaseApprovers/alice",
                counted_as="arn:aws:iam::123456789012:role/ReleaseApprovers",
                decision="approve",
                comment="looks good",
                decided_at=datetime(2024, 4, 5, 11, tzinfo=UTC),
            )
        ],
        summary={
            "diff": {
                "current_release_id": "1-20-1",
                "added": [],
                "removed": [],
                "changed": [{"component": "kubernetes", "before": "v1.20.4", "after": "v1.20.5"}],
                **(components or {}),
            },
            "verification": {"name": "verification", "ok": True, "checks": 120, "failed": 0, "failures": []},
            "tests": {
                "smoke": {"name": "smoke tests", "ok": True, "checks": 64, "failed": 0, "failures": []},
                "team": None,
            },
            "staged_manifest_location": "s3://bucket/eksd/staging/kubernetes-1-20/kubernetes-1-20-eks-3.yaml",
        },
    )
    if findings is not None:
        ref = FindingsRef(
            location="s3://bucket/eksd/staging/kubernetes-1-20/kubernetes-1-20-eks-3.findings.json",
            sha256=hashlib.sha256(findings.body()).hexdigest(),
        )
        request.summary["findings"] = summarize(findings, ref).model_dump(mode="json")
        if rule is not None:
            request.summary["findings_gate"] = required_acknowledgments(findings, rule).model_dump(mode="json")
    return {**request.model_dump(mode="json", exclude={"task_token"}), "approvals": len(request.approvers())}
