"""A stage's findings threshold: which new findings (and which incomplete scans) an approver must acknowledge.

A stage rule may set ``block_on: HIGH`` (or CRITICAL, MEDIUM, LOW, INFORMATIONAL). Promotion over a
*new* finding at or above it (see :mod:`eksd_adopt.findings.delta`) then needs each approving approver
to name it (``approve --accept-findings CVE-...``); findings the stage already runs never block.

- UNDEFINED and UNTRIAGED findings have no severity yet, so nobody can say they are below the threshold:
  under any threshold they block like one at it.
- A scan that did not complete hides what it would have found, so under a threshold it blocks too,
  until the approver accepts it with the one word :data:`INCOMPLETE_SCAN` (``--accept-findings
  incomplete-scan``), which covers every incomplete scan of that release at that gate. An image known
  to be unscannable (built FROM scratch, like ``pause``: ECR answers UNSUPPORTED_IMAGE) can be listed in
  the rule's ``unscannable`` so that answer alone does not block; any other state still does.
- An accepted id that nothing asked for (a typo, another release's finding, a finding below the
  threshold) is reported: the acknowledgment recorded must be of what was shown, so such a decision is refused.
- Without a threshold nothing blocks (findings are shown, never enforced).
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, field_validator

from eksd_adopt.findings.delta import DeltaFinding
from eksd_adopt.findings.document import ReleaseFindings
from eksd_adopt.findings.errors import FindingsNotAcknowledgedError
from eksd_adopt.findings.model import (
    MAX_REPOSITORY,
    REPOSITORY,
    ImageScan,
    ScanStatus,
    Severity,
    check_finding_id,
    shown,
)

INCOMPLETE_SCAN = "incomplete-scan"  # the acknowledgment of every incomplete scan of the release at the gate
MAX_ACCEPTED = 200  # ids one decision may name: bounded like every input from outside


class FindingsRule(BaseModel):
    """What a stage rule may say about findings (``StageRule.findings`` once wired)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    block_on: Severity | None = None
    unscannable: tuple[str, ...] = ()  # upstream image paths whose UNSUPPORTED_IMAGE answer does not block

    @field_validator("block_on")
    @classmethod
    def _known_severity(cls, value: Severity | None) -> Severity | None:
        if value is not None and not value.known:
            raise ValueError(f"block_on must be a severity (CRITICAL, HIGH, MEDIUM, LOW, INFORMATIONAL), not {value}")
        return value

    @field_validator("unscannable")
    @classmethod
    def _paths(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            if len(value) > MAX_REPOSITORY or not REPOSITORY.fullmatch(value):
                raise ValueError(f"unscannable: {shown(value)} is not an upstream repository path")
        return values

    def blocks(self, severity: Severity) -> bool:
        """Whether a new finding of ``severity`` needs acknowledging under this rule."""
        if self.block_on is None:
            return False
        return not severity.known or severity.rank >= self.block_on.rank


class BlockingScan(BaseModel):
    """A platform image whose scan did not complete, at a gate with a threshold."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    image: str
    platform: str
    status: ScanStatus
    detail: str = ""

    @classmethod
    def of(cls, scan: ImageScan) -> BlockingScan:
        return cls(image=scan.target.image, platform=scan.target.platform, status=scan.status, detail=scan.detail)


class RequiredAcknowledgments(BaseModel):
    """What must be accepted to promote this release at this gate (computed once, when the gate opens)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    block_on: Severity | None = None
    findings: tuple[DeltaFinding, ...] = ()
    incomplete_scans: tuple[BlockingScan, ...] = ()

    def ids(self) -> frozenset[str]:
        """The words that satisfy it: every blocking advisory id, and ``incomplete-scan`` when scans block."""
        ids = {f.id for f in self.findings}
        if self.incomplete_scans:
            ids.add(INCOMPLETE_SCAN)
        return frozenset(ids)


class AcknowledgmentCheck(BaseModel):
    """One approver's accepted ids against what the gate requires."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    accepted: tuple[str, ...] = ()  # required and accepted: what the decision (and the signed record) carries
    blocking: tuple[DeltaFinding, ...] = ()  # required and not accepted
    blocking_scans: tuple[BlockingScan, ...] = ()  # incomplete scans, `incomplete-scan` not accepted
    unknown: tuple[str, ...] = ()  # accepted, but nothing required them

    @property
    def passes(self) -> bool:
        """Nothing left blocking (unknown ids aside: see :meth:`require`)."""
        return not self.blocking and not self.blocking_scans

    def problems(self) -> list[str]:
        problems = []
        if self.blocking:
            ids = sorted({f.id for f in self.blocking})
            listed = ", ".join(ids[:20]) + (f" (and {len(ids) - 20} more)" if len(ids) > 20 else "")
            problems.append(f"new findings at or above the stage's threshold need --accept-findings: {listed}")
        if self.blocking_scans:
            scans = ", ".join(f"{s.image} {s.platform} {s.status.value}" for s in self.blocking_scans[:10])
            more = f" (and {len(self.blocking_scans) - 10} more)" if len(self.blocking_scans) > 10 else ""
            problems.append(f"scans that did not complete need --accept-findings {INCOMPLETE_SCAN}: {scans}{more}")
        if self.unknown:
            problems.append(f"accepted but not among this gate's blocking findings: {', '.join(self.unknown)}")
        return problems

    def require(self) -> AcknowledgmentCheck:
        """This check when nothing blocks and no accepted id is unknown; else FindingsNotAcknowledgedError."""
        problems = self.problems()
        if problems:
            raise FindingsNotAcknowledgedError("; ".join(problems))
        return self


def parse_accepted(values: Iterable[object]) -> tuple[str, ...]:
    """Accepted ids from a decision: each an advisory id or ``incomplete-scan``, at most :data:`MAX_ACCEPTED`.

    Raises ValueError naming the first value that is neither; duplicates are dropped, order kept.
    """
    accepted: dict[str, None] = {}
    for index, value in enumerate(values):
        if index >= MAX_ACCEPTED:
            raise ValueError(f"accepted findings: at most {MAX_ACCEPTED} ids in one decision")
        if value != INCOMPLETE_SCAN:
            check_finding_id(value, f"accepted finding {index + 1}")
        accepted[str(value)] = None
    return tuple(accepted)


def required_acknowledgments(findings: ReleaseFindings, rule: FindingsRule) -> RequiredAcknowledgments:
    """What ``rule`` requires acknowledged before ``findings``' release may be promoted."""
    if rule.block_on is None:
        return RequiredAcknowledgments()
    unscannable = set(rule.unscannable)
    incomplete = [
        BlockingScan.of(scan)
        for scan in findings.scans
        if not scan.complete and not (scan.status is ScanStatus.UNSUPPORTED_IMAGE and scan.target.image in unscannable)
    ]
    return RequiredAcknowledgments(
        block_on=rule.block_on,
        findings=tuple(f for f in findings.delta.new if rule.blocks(f.severity)),
        incomplete_scans=tuple(incomplete),
    )


def check_acknowledgments(required: RequiredAcknowledgments, accepted: Iterable[object]) -> AcknowledgmentCheck:
    """Which required findings ``accepted`` leaves blocking, and which accepted ids nothing required.

    An advisory id accepts that id in every image it is new in. Raises ValueError for an accepted
    value that is not an advisory id or ``incomplete-scan``.
    """
    given = parse_accepted(accepted)
    needed = required.ids()
    return AcknowledgmentCheck(
        accepted=tuple(i for i in given if i in needed),
        blocking=tuple(f for f in required.findings if f.id not in given),
        blocking_scans=() if INCOMPLETE_SCAN in given else required.incomplete_scans,
        unknown=tuple(i for i in given if i not in needed),
    )


def check_findings(findings: ReleaseFindings, rule: FindingsRule, accepted: Iterable[object]) -> AcknowledgmentCheck:
    """:func:`check_acknowledgments` of :func:`required_acknowledgments`: the whole check in one call."""
    return check_acknowledgments(required_acknowledgments(findings, rule), accepted)


__all__ = [
    "INCOMPLETE_SCAN",
    "AcknowledgmentCheck",
    "BlockingScan",
    "FindingsRule",
    "RequiredAcknowledgments",
    "check_acknowledgments",
    "check_findings",
    "parse_accepted",
    "required_acknowledgments",
]
