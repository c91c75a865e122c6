"""The findings summary the workflow state, the approval request and the ``release.awaiting_approval`` event carry.

Bounded whatever the release: counts per image (at most :data:`MAX_IMAGES` images listed, the rest
counted), and the new and fixed lists capped at :data:`MAX_LISTED` each with the count of the rest;
texts are cut to :data:`MAX_TEXT`. The whole document stays in the bucket (its location and sha256 are
here), and the gate decides on it, never on this summary.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from eksd_adopt.findings.delta import DeltaFinding, by_image
from eksd_adopt.findings.document import FindingsRef, ReleaseFindings
from eksd_adopt.findings.model import SEVERITIES, Finding, ImageScan, ScanStatus, Severity, severity_counts

MAX_IMAGES = 40  # EKS-D releases have 17 to about 30 images
MAX_LISTED = 20
MAX_TEXT = 64
MAX_DETAIL = 120
# The summary's JSON stays under this (tests/unit/findings: a release at every cap with the longest texts).
MAX_SUMMARY_BYTES = 48 * 1024


class PlatformState(BaseModel):
    """A platform image whose scan did not complete, and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    platform: str
    status: ScanStatus
    detail: str = ""


class ImageSummary(BaseModel):
    """One image over its platforms: counts of distinct advisory ids by severity, and the scans that did not complete."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    image: str
    complete: bool
    counts: dict[Severity, int]
    incomplete: tuple[PlatformState, ...] = ()


class FindingsSummary(BaseModel):
    """Small enough for the Step Functions state and an event; the full document is at ``location``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    release_id: str
    baseline_release_id: str | None = None
    baseline: str = "none"
    location: str
    sha256: str
    complete: bool  # every platform image's scan completed
    scans: int = Field(ge=0)  # platform images scanned
    incomplete_scans: int = Field(ge=0)
    images: tuple[ImageSummary, ...] = ()
    images_more: int = Field(default=0, ge=0)
    new_counts: dict[Severity, int] = Field(default_factory=dict)
    new: tuple[DeltaFinding, ...] = ()
    new_more: int = Field(default=0, ge=0)
    fixed_counts: dict[Severity, int] = Field(default_factory=dict)
    fixed: tuple[DeltaFinding, ...] = ()
    fixed_more: int = Field(default=0, ge=0)
    new_images: tuple[str, ...] = ()
    removed_images: tuple[str, ...] = ()
    baseline_gaps: tuple[str, ...] = ()
    unconfirmed_fixed: tuple[str, ...] = ()


def _cut(text: str | None, limit: int = MAX_TEXT) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 3] + "..."


def _short(entry: DeltaFinding) -> DeltaFinding:
    return entry.model_copy(update={"package": _cut(entry.package), "version": _cut(entry.version)})


def _counts(entries: tuple[DeltaFinding, ...]) -> dict[Severity, int]:
    counts = dict.fromkeys(SEVERITIES, 0)
    for severity in {(e.image, e.id): e.severity for e in entries}.values():
        counts[severity] += 1
    return counts


def _image(image: str, scans: list[ImageScan]) -> ImageSummary:
    findings: list[Finding] = [f for s in scans if s.complete for f in s.findings]
    incomplete = tuple(
        PlatformState(platform=s.target.platform, status=s.status, detail=_cut(s.detail, MAX_DETAIL) or "")
        for s in sorted(scans, key=lambda s: s.target.platform)
        if not s.complete
    )
    return ImageSummary(image=image, complete=not incomplete, counts=severity_counts(findings), incomplete=incomplete)


def summarize(findings: ReleaseFindings, ref: FindingsRef) -> FindingsSummary:
    """The bounded summary of ``findings``, stored at ``ref``."""
    grouped = by_image(findings.scans)
    # Images with incomplete scans or findings first, so a cap never hides one that matters.
    images = sorted(
        (_image(name, scans) for name, scans in grouped.items()),
        key=lambda i: (i.complete, -sum(i.counts.values()), i.image),
    )
    delta = findings.delta
    return FindingsSummary(
        release_id=findings.release_id,
        baseline_release_id=delta.baseline_release_id,
        baseline=findings.baseline,
        location=ref.location,
        sha256=ref.sha256,
        complete=findings.complete,
        scans=len(findings.scans),
        incomplete_scans=sum(1 for s in findings.scans if not s.complete),
        images=tuple(images[:MAX_IMAGES]),
        images_more=max(0, len(images) - MAX_IMAGES),
        new_counts=_counts(delta.new),
        new=tuple(_short(e) for e in delta.new[:MAX_LISTED]),
        new_more=max(0, len(delta.new) - MAX_LISTED),
        fixed_counts=_counts(delta.fixed),
        fixed=tuple(_short(e) for e in delta.fixed[:MAX_LISTED]),
        fixed_more=max(0, len(delta.fixed) - MAX_LISTED),
        new_images=delta.new_images[:MAX_LISTED],
        removed_images=delta.removed_images[:MAX_LISTED],
        baseline_gaps=delta.baseline_gaps[:MAX_LISTED],
        unconfirmed_fixed=delta.unconfirmed_fixed[:MAX_LISTED],
    )
