"""Vulnerability findings of a release's platform images: severities, scan states, findings and image scans.

Everything here is parsed from outside (a registry's scan results, a stored document), so every
text is bounded and matched whole with ASCII-only patterns before it is kept.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from eksd_adopt.reference import check_digest

# An advisory id: a CVE (CVE-2019-5188), or a vendor advisory as enhanced scanning reports them
# (GHSA-jfh8-c2jp-5v3q, ALAS2-2023-1234, ALASKERNEL-5.10-2022-005, RHSA-2023:1234, GO-2022-0969).
# An upper-case prefix, then one to eight separated segments; the length is checked before the
# pattern runs, and the pattern is ASCII-only and matched whole (no non-ASCII digit, no final newline).
MAX_FINDING_ID = 80
FINDING_ID = re.compile(r"[A-Z][A-Z0-9]{1,19}(?:[-:.][A-Za-z0-9]{1,32}){1,8}", re.ASCII)
# ECR's repository name grammar (API reference, CreateRepository: repositoryName), 2-256 characters.
MAX_REPOSITORY = 256
REPOSITORY = re.compile(r"(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*", re.ASCII)
# os/arch[/variant] as an OCI index names a platform: linux/amd64, linux/arm64/v8.
PLATFORM = re.compile(r"[a-z0-9]{1,16}/[a-z0-9_]{1,16}(?:/[a-z0-9]{1,16})?", re.ASCII)
# A package name or version as a scanner reports it: printable ASCII, no surrounding blanks.
MAX_PACKAGE_TEXT = 256
PACKAGE_TEXT = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?", re.ASCII)
MAX_DETAIL = 300


def is_finding_id(value: object) -> bool:
    """True when ``value`` is a whole advisory id (see :data:`FINDING_ID`)."""
    return isinstance(value, str) and len(value) <= MAX_FINDING_ID and FINDING_ID.fullmatch(value) is not None


def check_finding_id(value: object, what: str = "finding id") -> str:
    """``value`` when it is a whole advisory id, else ValueError naming ``what`` and a bounded excerpt."""
    if not is_finding_id(value):
        raise ValueError(f"{what}: {shown(value)} is not an advisory id (e.g. CVE-2024-3094, GHSA-xxxx-xxxx-xxxx)")
    return str(value)


def shown(value: object, limit: int = 60) -> str:
    """A bounded, printable-ASCII rendering of an untrusted value for an error message."""
    text = ascii(value) if isinstance(value, str) else f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def printable(value: object, limit: int = MAX_DETAIL) -> str:
    """Untrusted text for display: every character outside printable ASCII becomes '?', then truncated."""
    if not isinstance(value, str):
        return ""
    text = "".join(c if " " <= c <= "~" else "?" for c in value[: limit + 1])
    return text if len(text) <= limit else text[: limit - 3] + "..."


def package_text(value: object) -> str | None:
    """A package name or version when it is plain printable ASCII of a sane length; None otherwise.

    Informational only (the id is what the delta and the gate use), so a value that does not fit is
    left out rather than kept in any form.
    """
    if isinstance(value, str) and len(value) <= MAX_PACKAGE_TEXT and PACKAGE_TEXT.fullmatch(value):
        return value
    return None


class Severity(StrEnum):
    """ECR's severities (basic scanning: ImageScanFinding.severity) plus enhanced scanning's UNTRIAGED.

    UNDEFINED (basic: no priority from the CVE source) and UNTRIAGED (Amazon Inspector: the vendor has
    not assigned one yet) are severities not known yet, not low ones.
    """

    CRITICAL = "CRITICAL"
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"
    INFORMATIONAL = "INFORMATIONAL"
    UNDEFINED = "UNDEFINED"
    UNTRIAGED = "UNTRIAGED"

    @property
    def rank(self) -> int:
        """Order for display and thresholds; the two unknown severities rank lowest (the gate treats them apart)."""
        return _RANKS[self]

    @property
    def known(self) -> bool:
        return self not in (Severity.UNDEFINED, Severity.UNTRIAGED)


_RANKS = {
    Severity.CRITICAL: 5,
    Severity.HIGH: 4,
    Severity.MEDIUM: 3,
    Severity.LOW: 2,
    Severity.INFORMATIONAL: 1,
    Severity.UNDEFINED: 0,
    Severity.UNTRIAGED: 0,
}
SEVERITIES = tuple(sorted(Severity, key=lambda s: (-s.rank, s.value)))  # display order, most severe first


class ScanStatus(StrEnum):
    """Where a platform image's scan stands, as the approvers see it. Only COMPLETE has findings.

    A scan that did not complete is one of the other states and is shown as such, never as "no findings".
    """

    COMPLETE = "COMPLETE"  # ECR: COMPLETE (basic) or ACTIVE (enhanced, continuous)
    IN_PROGRESS = "IN_PROGRESS"  # ECR: IN_PROGRESS or PENDING, still so when the wait ended
    FAILED = "FAILED"
    UNSUPPORTED_IMAGE = "UNSUPPORTED_IMAGE"  # e.g. an image built FROM scratch (ECR cannot scan it)
    SCAN_NOT_FOUND = "SCAN_NOT_FOUND"  # no scan: scan on push off, or an image ECR does not scan
    IMAGE_NOT_FOUND = "IMAGE_NOT_FOUND"
    UNAVAILABLE = "UNAVAILABLE"  # findings cannot be read or trusted (expired, throttled past the wait, malformed)


class PlatformImage(BaseModel):
    """One platform image of a staged release: what a registry scans (a platform manifest, by digest).

    ``image`` is the upstream repository path (``eks-distro/kubernetes/pause``): the name images are
    matched by across releases, whatever their tags.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    image: str = Field(max_length=MAX_REPOSITORY)
    repository: str = Field(max_length=MAX_REPOSITORY)  # the registry repository scanned (staging)
    index_digest: str
    platform: str = Field(max_length=50)
    digest: str  # the platform manifest's digest: ECR scans image manifests, never an index

    @field_validator("image", "repository")
    @classmethod
    def _repository(cls, value: str) -> str:
        if len(value) < 2 or not REPOSITORY.fullmatch(value):
            raise ValueError(f"{shown(value)} is not a repository path")
        return value

    @field_validator("index_digest", "digest")
    @classmethod
    def _digest(cls, value: str) -> str:
        return check_digest(value, "digest")

    @field_validator("platform")
    @classmethod
    def _platform(cls, value: str) -> str:
        if not PLATFORM.fullmatch(value):
            raise ValueError(f"{shown(value)} is not an os/arch[/variant] platform")
        return value

    def __str__(self) -> str:
        return f"{self.repository}@{self.digest} ({self.platform})"


class Finding(BaseModel):
    """One advisory found in one platform image, with the package it was found in where the scanner says."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    severity: Severity
    package: str | None = None
    version: str | None = None

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        return check_finding_id(value)

    @field_validator("package", "version")
    @classmethod
    def _package(cls, value: str | None) -> str | None:
        if value is not None and package_text(value) is None:
            raise ValueError(f"{shown(value)} is not a package name or version (printable ASCII, at most 256)")
        return value


class ImageScan(BaseModel):
    """A platform image's scan as read from the registry: its state and, when complete, its findings."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    target: PlatformImage
    status: ScanStatus
    registry_status: str | None = Field(default=None, pattern=r"^[A-Z][A-Z_]{0,39}$")  # the registry's own word
    detail: str = Field(default="", max_length=MAX_DETAIL)
    completed_at: datetime | None = None
    findings: tuple[Finding, ...] = ()

    @field_validator("detail", mode="before")
    @classmethod
    def _detail(cls, value: object) -> str:
        return printable(value)

    @model_validator(mode="after")
    def _findings_only_when_complete(self) -> ImageScan:
        # An incomplete scan must never read as a scan with few findings: it has none, and says why.
        if self.findings and self.status is not ScanStatus.COMPLETE:
            raise ValueError(f"a {self.status.value} scan has no findings (only a COMPLETE one does)")
        return self

    @property
    def complete(self) -> bool:
        return self.status is ScanStatus.COMPLETE


def severity_counts(findings: tuple[Finding, ...] | list[Finding]) -> dict[Severity, int]:
    """Distinct advisory ids per severity (an id found in several packages counts once, at its highest)."""
    highest: dict[str, Severity] = {}
    for finding in findings:
        seen = highest.get(finding.id)
        if seen is None or finding.severity.rank > seen.rank:
            highest[finding.id] = finding.severity
    counts = dict.fromkeys(SEVERITIES, 0)
    for severity in highest.values():
        counts[severity] += 1
    return counts
