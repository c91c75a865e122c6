"""How long approval gates have been waiting: the figures the ``ApprovalsPendingTooLong`` alarm watches."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from eksd_adopt.ledger.model import utcnow
from eksd_adopt.observability import MetricSink, domain_logger, log_keys

logger = domain_logger()


class PendingApproval(BaseModel):
    """One open gate, without its task token (the watch never reads tokens)."""

    model_config = ConfigDict(frozen=True)

    release_id: str
    stage: str
    requested_at: datetime


class PendingApprovalSource(Protocol):
    """Where the open gates are read from (the approvals table in production)."""

    def pending(self) -> list[PendingApproval]: ...


class PendingApprovalsReport(BaseModel):
    """Open gates now; ``oldest_seconds`` is 0 when none is open, so the metric always has a datapoint."""

    model_config = ConfigDict(frozen=True)

    pending: int
    oldest_seconds: int
    oldest_release_id: str | None = None
    oldest_stage: str | None = None


def summarize_pending(gates: Iterable[PendingApproval], now: datetime | None = None) -> PendingApprovalsReport:
    """Count the open gates and age the oldest (a gate requested in the future counts as 0 s: clock skew)."""
    now = now or utcnow()
    ordered = sorted(gates, key=lambda g: g.requested_at)
    if not ordered:
        return PendingApprovalsReport(pending=0, oldest_seconds=0)
    oldest = ordered[0]
    return PendingApprovalsReport(
        pending=len(ordered),
        oldest_seconds=max(0, int((now - oldest.requested_at).total_seconds())),
        oldest_release_id=oldest.release_id,
        oldest_stage=oldest.stage,
    )


def watch_pending(source: PendingApprovalSource, *, metrics: MetricSink) -> PendingApprovalsReport:
    """Count the open gates into ``PendingApprovals`` and ``OldestPendingApprovalSeconds``: published as 0
    when no gate is open, so a watch that stops running shows as missing data (which the alarm treats as
    breaching) rather than as calm."""
    report = summarize_pending(source.pending())
    metrics("PendingApprovals", report.pending, "Count")
    metrics("OldestPendingApprovalSeconds", report.oldest_seconds, "Seconds")
    if report.oldest_release_id:
        log_keys(release_id=report.oldest_release_id, stage=report.oldest_stage)
    logger.info("approvals watched", extra={"pending": report.pending, "oldest_seconds": report.oldest_seconds})
    return report
