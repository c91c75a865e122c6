"""Builders for the findings tests: platform images, scans and an in-memory, write-once document store."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from eksd_adopt.findings import (
    Finding,
    ImageScan,
    PlatformImage,
    ReleaseFindings,
    ScanStatus,
    Severity,
    findings_delta,
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
