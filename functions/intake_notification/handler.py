"""Intake: SNS announcements from the upstream topic, via SQS, become at most one adoption per release.

Each message is handled on its own (partial batch failures); what fails a message, so that it comes
back, is the intake's rule (``eksd_adopt.intake.messages``). Duplicates are acknowledged.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from eksd_adopt.intake import IntakeService, IntakeSettings, wiring
from eksd_adopt.intake.messages import handle_message
from eksd_adopt.observability import instrumented, record_metric


@instrumented
def handler(event: dict[str, Any], context: LambdaContext, service: IntakeService | None = None) -> dict[str, Any]:
    settings = IntakeSettings.from_env(os.environ)
    with wiring.http_client() as client:
        intake = service or wiring.intake_service(settings, client)

        def record_handler(record: SQSRecord) -> dict[str, Any]:
            first = record.attributes.approximate_first_receive_timestamp
            result = handle_message(record.body, record.message_id, first, intake, settings, metrics=record_metric)
            return result.model_dump(mode="json")

        # Failures reported item by item even when all fail: the failed ones come back, the DLQ catches
        # what keeps failing, and an invocation error would say nothing the items do not.
        processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        return dict(process_partial_response(event, record_handler, processor, context))
