"""Approval watch (EventBridge schedule): publish how many gates are open and how long the oldest has waited.

``OldestPendingApprovalSeconds`` feeds the ``ApprovalsPendingTooLong`` alarm; it is published as 0
when no gate is open, so a watch that stops running shows as missing data (which that alarm treats
as breaching) rather than as calm.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from eksd_adopt.approvals.aws import DynamoDbPendingApprovals
from eksd_adopt.approvals.settings import ApprovalWatchSettings
from eksd_adopt.approvals.watch import PendingApprovalSource, summarize_pending

logger = Logger()
tracer = Tracer()
metrics = Metrics(namespace="EksdAdopt")  # the same namespace the function factory sets


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(
    event: dict[str, Any], context: LambdaContext, gates: PendingApprovalSource | None = None
) -> dict[str, Any]:
    settings = ApprovalWatchSettings.from_env(os.environ)
    source = gates or DynamoDbPendingApprovals(settings.approvals_table)
    report = summarize_pending(source.list())
    metrics.add_metric(name="PendingApprovals", unit=MetricUnit.Count, value=report.pending)
    metrics.add_metric(name="OldestPendingApprovalSeconds", unit=MetricUnit.Seconds, value=report.oldest_seconds)
    if report.oldest_release_id:
        logger.append_keys(release_id=report.oldest_release_id, stage=report.oldest_stage)
    logger.info("approvals watched", extra={"pending": report.pending, "oldest_seconds": report.oldest_seconds})
    return report.model_dump(mode="json")
