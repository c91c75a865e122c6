"""Intake: SNS announcements from the upstream topic, via SQS, become at most one adoption per release.

Each message is handled on its own (partial batch failures). A message fails, and so comes back
after the queue's visibility timeout, when it must be retried: the manifest is not published yet
(403/404, until ``MANIFEST_NOT_FOUND_RETRY_SECONDS`` after the message was first received, measured
by SQS's ``ApproximateFirstReceiveTimestamp``), the manifest is invalid (retried until the redrive
count sends it to the DLQ), the message is refused, or AWS failed. Duplicates are acknowledged.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from eksd_adopt.errors import NotificationError
from eksd_adopt.intake import (
    AdoptOutcome,
    AdoptResult,
    IntakeService,
    IntakeSettings,
    InvalidManifestError,
    ManifestNotPublishedError,
    wiring,
)
from eksd_adopt.notification import parse_envelope

logger = Logger()
tracer = Tracer()
metrics = Metrics(namespace="EksdAdopt")  # the same namespace the function factory sets
# The keys handle_record appends for one record (removed after each record, whatever its outcome).
RECORD_LOG_KEYS = ("sqs_message_id", "release_id", "channel", "number", "sns_message_id")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext, service: IntakeService | None = None) -> dict[str, Any]:
    # Read per invocation: the local runtime calls this in-process with a different environment each time.
    settings = IntakeSettings.from_env(os.environ)
    with wiring.http_client() as client:
        intake = service or wiring.intake_service(settings, client)
        # Report failures item by item even when all fail: the failed ones come back, the DLQ catches
        # what keeps failing, and an invocation error would say nothing the items do not.
        processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

        def record_handler(record: SQSRecord) -> dict[str, Any]:
            try:
                return handle_record(record, intake, settings).model_dump(mode="json")
            finally:
                # A record's keys are its own: the next record of the batch must not log under them.
                logger.remove_keys(RECORD_LOG_KEYS)

        response = process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    return dict(response)


def handle_record(record: SQSRecord, intake: IntakeService, settings: IntakeSettings) -> AdoptResult:
    logger.append_keys(sqs_message_id=record.message_id)
    try:
        announcement = parse_envelope(record.body, topic_arn=settings.upstream_topic_arn)
    except NotificationError as exc:
        metrics.add_metric(name="RefusedNotifications", unit=MetricUnit.Count, value=1)
        logger.error("notification refused", extra={"reason": str(exc)})
        raise
    logger.append_keys(
        # The release id as soon as it is known (a channel-only announcement learns it from the channel file).
        release_id=announcement.release_id,
        channel=announcement.channel,
        number=announcement.number,
        sns_message_id=announcement.message_id,
    )
    try:
        result = intake.handle_announcement(announcement, retry_not_found_until=_retry_until(record, settings))
    except ManifestNotPublishedError as exc:
        # Expected right after a release: the message comes back after the visibility timeout.
        metrics.add_metric(name="ManifestsNotYetPublished", unit=MetricUnit.Count, value=1)
        logger.warning("manifest not published yet; retrying later", extra={"reason": str(exc)})
        raise
    logger.append_keys(release_id=result.release_id)
    logger.info("announcement handled", extra={"outcome": result.outcome.value})
    metrics.add_metric(name=_METRIC[result.outcome], unit=MetricUnit.Count, value=1)
    if result.outcome is AdoptOutcome.INVALID:
        # Fail the message: it is retried a few times (the CDN might have served a bad copy) and then
        # lands in the DLQ; the ledger already holds every problem and the metric raises the alarm.
        raise InvalidManifestError(result.release_id, result.problems)
    return result


def _retry_until(record: SQSRecord, settings: IntakeSettings) -> datetime:
    first = record.attributes.approximate_first_receive_timestamp
    first_seen = datetime.fromtimestamp(int(first) / 1000, UTC) if first else datetime.now(UTC)
    return first_seen + timedelta(seconds=settings.not_found_retry_seconds)


_METRIC = {
    AdoptOutcome.STARTED: "AdoptionsStarted",
    AdoptOutcome.ALREADY_KNOWN: "DuplicateNotifications",
    AdoptOutcome.SUPERSEDED: "SupersededReleases",
    AdoptOutcome.INVALID: "InvalidManifests",
    AdoptOutcome.NOT_FOUND: "ManifestsNotFound",
    AdoptOutcome.UNTRACKED: "UntrackedNotifications",
}
