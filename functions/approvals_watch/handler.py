"""Approval watch (EventBridge schedule): publish how many gates are open and how long the oldest has waited.

``OldestPendingApprovalSeconds`` feeds the ``ApprovalsPendingTooLong`` alarm (``approvals.watch``).
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from eksd_adopt.approvals.aws import DynamoDbApprovalStore
from eksd_adopt.approvals.settings import ApprovalWatchSettings
from eksd_adopt.approvals.watch import PendingApprovalSource, watch_pending
from eksd_adopt.observability import instrumented, record_metric


@instrumented
def handler(
    event: dict[str, Any], context: LambdaContext, gates: PendingApprovalSource | None = None
) -> dict[str, Any]:
    settings = ApprovalWatchSettings.from_env(os.environ)
    source = gates or DynamoDbApprovalStore(settings.approvals_table)
    return watch_pending(source, metrics=record_metric).model_dump(mode="json")
