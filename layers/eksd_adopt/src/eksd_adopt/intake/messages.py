"""The intake's rules for one queued notification and for one reconciler run.

A message is acknowledged when its announcement is handled (adopted, already known, superseded,
untracked, not found for good) and fails, so SQS brings it back after the visibility timeout and the
DLQ catches what keeps failing, when it must be retried: the manifest is not published yet (403/404,
until ``MANIFEST_NOT_FOUND_RETRY_SECONDS`` after SQS first delivered the message), the manifest is invalid
(the CDN may have served a bad copy; the ledger already lists every problem), or the notification is
refused. A reconciler run fails when any channel or release could not be handled, after doing the rest.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from eksd_adopt.errors import NotificationError
from eksd_adopt.intake.errors import InvalidManifestError, ManifestNotPublishedError, ReconcileError
from eksd_adopt.intake.models import AdoptOutcome, AdoptResult, ReconcileReport
from eksd_adopt.intake.service import IntakeService
from eksd_adopt.intake.settings import IntakeSettings
from eksd_adopt.notification import parse_envelope
from eksd_adopt.observability import MetricSink, domain_logger, log_keys, scoped_log_keys

logger = domain_logger()

OUTCOME_METRICS = {
    AdoptOutcome.STARTED: "AdoptionsStarted",
    AdoptOutcome.ALREADY_KNOWN: "DuplicateNotifications",
    AdoptOutcome.SUPERSEDED: "SupersededReleases",
    AdoptOutcome.INVALID: "InvalidManifests",
    AdoptOutcome.NOT_FOUND: "ManifestsNotFound",
    AdoptOutcome.UNTRACKED: "UntrackedNotifications",
}


def handle_message(
    body: str,
    message_id: str,
    first_received_ms: str | None,
    intake: IntakeService,
    settings: IntakeSettings,
    *,
    metrics: MetricSink,
) -> AdoptResult:
    """Handle one SQS message holding an SNS envelope; raises when the message must come back. Its log
    keys (message id, then release, channel, number) go with it, whatever its outcome: the next message of
    the batch must not log under them."""
    with scoped_log_keys(sqs_message_id=message_id):
        return _handle(body, first_received_ms, intake, settings, metrics)


def _handle(
    body: str, first_received_ms: str | None, intake: IntakeService, settings: IntakeSettings, metrics: MetricSink
) -> AdoptResult:
    try:
        announcement = parse_envelope(body, topic_arn=settings.upstream_topic_arn)
    except NotificationError as exc:
        metrics("RefusedNotifications", 1, "Count")
        logger.error("notification refused", extra={"reason": str(exc)})
        raise
    log_keys(
        # The release id as soon as it is known (a channel-only announcement learns it from the channel file).
        release_id=announcement.release_id,
        channel=announcement.channel,
        number=announcement.number,
        sns_message_id=announcement.message_id,
    )
    first_seen = datetime.fromtimestamp(int(first_received_ms) / 1000, UTC) if first_received_ms else datetime.now(UTC)
    retry_until = first_seen + timedelta(seconds=settings.not_found_retry_seconds)
    try:
        result = intake.handle_announcement(announcement, retry_not_found_until=retry_until)
    except ManifestNotPublishedError as exc:
        # Expected right after a release: the message comes back after the visibility timeout.
        metrics("ManifestsNotYetPublished", 1, "Count")
        logger.warning("manifest not published yet; retrying later", extra={"reason": str(exc)})
        raise
    log_keys(release_id=result.release_id)
    logger.info("announcement handled", extra={"outcome": result.outcome.value})
    metrics(OUTCOME_METRICS[result.outcome], 1, "Count")
    if result.outcome is AdoptOutcome.INVALID:
        raise InvalidManifestError(result.release_id, result.problems)
    return result


def run_reconciler(intake: IntakeService, settings: IntakeSettings, *, metrics: MetricSink) -> ReconcileReport:
    """Start every release the channel files name that the ledger lacks; raises :class:`ReconcileError` when
    anything could not be handled (the rest is done, and counted, first)."""
    report = ReconcileReport()
    try:
        intake.reconcile(grace=timedelta(seconds=settings.reconcile_grace_seconds), report=report)
    finally:
        # Also when the run fails half-way: what it started is counted (MissedNotifications) all the same.
        metrics("MissedNotifications", len(report.missed), "Count")
        metrics("ReconcilerStarted", len(report.started), "Count")
        metrics("ReconcilerErrors", len(report.errors), "Count")
        logger.info(
            "reconciled",
            extra={
                "channels": [c.channel for c in report.channels],
                "detected": report.detected,
                "started": report.started,
                "missed": report.missed,
                "errors": report.errors,
            },
        )
    if report.errors:
        raise ReconcileError(f"{len(report.errors)} error(s): {report.errors}")
    return report
