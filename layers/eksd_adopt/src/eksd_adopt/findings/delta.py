"""The findings delta of a release against the one a stage runs now: what promoting it brings in and what it fixes.

Images are matched across releases by their upstream repository path (``eks-distro/kubernetes/pause``),
never by tag (every release tags anew), and findings by advisory id within an image, over all its
platforms: an id found in any platform of the image in one release and in none in the other is new
(or fixed). Only what was actually scanned counts:

- a finding is *new* when no complete scan of the baseline's image knew it; so a baseline scan that
  did not complete makes its image's findings count as new (the safe side: the approver sees more);
- a finding is *fixed* only when every platform of this release's image was scanned completely
  (a missing platform scan might still hold it);
- an image the baseline does not have brings all its findings in; one this release drops takes all
  its findings away (they are listed as fixed, under the dropped image's name).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from eksd_adopt.findings.model import (
    MAX_REPOSITORY,
    Finding,
    ImageScan,
    Severity,
)


class DeltaFinding(Finding):
    """An advisory new in (or gone from) one image, with where it is found and its highest severity there."""

    image: str = Field(max_length=MAX_REPOSITORY)
    platforms: tuple[str, ...] = ()


class FindingsDelta(BaseModel):
    """New and fixed findings by image against the baseline (the release the stage runs), most severe first."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    baseline_release_id: str | None = None  # None: nothing is promoted in the stage, every finding is new
    new: tuple[DeltaFinding, ...] = ()
    fixed: tuple[DeltaFinding, ...] = ()
    new_images: tuple[str, ...] = ()  # images the baseline does not have: all their findings are new
    removed_images: tuple[str, ...] = ()  # images this release no longer has: all their findings are fixed
    # Images with new findings whose baseline scan did not complete: some of those may be old.
    baseline_gaps: tuple[str, ...] = ()
    # Images scanned incompletely now whose baseline findings were not seen: not listed as fixed.
    unconfirmed_fixed: tuple[str, ...] = ()


@dataclass
class _Known:
    """What the complete scans of one image say about one advisory id."""

    severity: Severity
    package: str | None
    version: str | None
    platforms: set[str] = field(default_factory=set)

    def add(self, finding: Finding, platform: str) -> None:
        if finding.severity.rank > self.severity.rank:
            self.severity = finding.severity
        self.platforms.add(platform)


def _known(scans: Iterable[ImageScan]) -> dict[str, _Known]:
    known: dict[str, _Known] = {}
    # Sorted, so the package shown for an id found in several packages is always the same one. Only a
    # complete scan has findings (ImageScan enforces it): an incomplete one adds nothing known.
    for scan in sorted(scans, key=lambda s: s.target.platform):
        for finding in sorted(scan.findings, key=lambda f: (f.id, f.package or "", f.version or "")):
            entry = known.setdefault(finding.id, _Known(finding.severity, finding.package, finding.version))
            entry.add(finding, scan.target.platform)
    return known


def _entries(image: str, known: dict[str, _Known], ids: Iterable[str]) -> list[DeltaFinding]:
    return [
        DeltaFinding(
            image=image,
            id=i,
            severity=known[i].severity,
            package=known[i].package,
            version=known[i].version,
            platforms=tuple(sorted(known[i].platforms)),
        )
        for i in ids
    ]


def by_image(scans: Iterable[ImageScan]) -> dict[str, list[ImageScan]]:
    """Scans grouped by upstream image path."""
    grouped: dict[str, list[ImageScan]] = defaultdict(list)
    for scan in scans:
        grouped[scan.target.image].append(scan)
    return dict(grouped)


# Most severe first; the unknown severities (which a threshold treats as blocking) after MEDIUM, before LOW.
_ORDER = {
    Severity.CRITICAL: 0,
    Severity.HIGH: 1,
    Severity.MEDIUM: 2,
    Severity.UNDEFINED: 3,
    Severity.UNTRIAGED: 3,
    Severity.LOW: 4,
    Severity.INFORMATIONAL: 5,
}


def severity_order(entry: DeltaFinding) -> tuple[int, str, str, str]:
    """The order findings are listed in: severity, then image, id and package."""
    return (_ORDER[entry.severity], entry.image, entry.id, entry.package or "")


def findings_delta(
    current: Sequence[ImageScan], baseline: Sequence[ImageScan] | None, baseline_release_id: str | None = None
) -> FindingsDelta:
    """The delta of ``current`` (this release's scans) against ``baseline`` (None: nothing promoted yet)."""
    now, before = by_image(current), by_image(baseline or ())
    new: list[DeltaFinding] = []
    fixed: list[DeltaFinding] = []
    gaps: list[str] = []
    unconfirmed: list[str] = []
    for image in sorted(now):
        known_now, known_before = _known(now[image]), _known(before.get(image, ()))
        brought = sorted(known_now.keys() - known_before.keys())
        new.extend(_entries(image, known_now, brought))
        if brought and image in before and not all(s.complete for s in before[image]):
            gaps.append(image)  # some of these may be old: the baseline's scan did not complete
        if all(s.complete for s in now[image]):
            fixed.extend(_entries(image, known_before, sorted(known_before.keys() - known_now.keys())))
        elif known_before.keys() - known_now.keys():
            unconfirmed.append(image)  # these may be fixed or in the platform not scanned
    removed = sorted(before.keys() - now.keys()) if baseline is not None else []
    for image in removed:
        known_before = _known(before[image])
        fixed.extend(_entries(image, known_before, sorted(known_before)))
    return FindingsDelta(
        baseline_release_id=baseline_release_id,
        new=tuple(sorted(new, key=severity_order)),
        fixed=tuple(sorted(fixed, key=severity_order)),
        new_images=tuple(sorted(now.keys() - before.keys())) if baseline is not None else (),
        removed_images=tuple(removed),
        baseline_gaps=tuple(gaps),
        unconfirmed_fixed=tuple(unconfirmed),
    )
