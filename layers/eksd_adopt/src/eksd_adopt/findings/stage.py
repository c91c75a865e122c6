"""A release's findings as one stage's gate sees them: its scans, with the delta against the release that stage runs.

The scan step stores one document per release (its scans, with the delta against nothing); each
stage runs its own release, so each gate takes its own delta when it opens, against that release's
stored document. A stage running a release that has none (promoted before findings were recorded)
has no known findings: its images' scans count as not completed, so every finding is new and the
images are noted as baseline gaps (the safe side), never as a baseline without findings.
"""

from __future__ import annotations

from eksd_adopt.findings.delta import findings_delta
from eksd_adopt.findings.document import ReleaseFindings
from eksd_adopt.findings.model import ImageScan, ScanStatus

UNRECORDED = "promoted before findings were recorded: its scans are unknown"


def against_stage(
    findings: ReleaseFindings, baseline_release_id: str | None, baseline: ReleaseFindings | None
) -> ReleaseFindings:
    """``findings`` with the delta against ``baseline_release_id`` (None: the stage runs nothing yet).

    ``baseline`` is that release's stored document, None when it has none.
    """
    if baseline_release_id is None:
        return findings.model_copy(update={"baseline": "none", "delta": findings_delta(findings.scans, None)})
    if baseline is not None:
        if baseline.release_id != baseline_release_id:
            raise ValueError(f"the baseline document is of {baseline.release_id}, not {baseline_release_id}")
        delta = findings_delta(findings.scans, baseline.scans, baseline_release_id)
        return findings.model_copy(update={"baseline": "stored", "delta": delta})
    unknown = tuple(
        ImageScan(target=s.target, status=ScanStatus.UNAVAILABLE, detail=UNRECORDED) for s in findings.scans
    )
    delta = findings_delta(findings.scans, unknown, baseline_release_id)
    return findings.model_copy(update={"baseline": "unrecorded", "delta": delta})
