"""Workflow end: record an adoption that failed, was rejected or expired (ledger, event, gate closed)."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from eksd_adopt.observability import handler_logger, instrumented, log_keys
from eksd_adopt.workflow import wiring
from eksd_adopt.workflow.config import RecordOutcomeSettings
from eksd_adopt.workflow.promotion import OutcomeRequest, record_outcome

logger = handler_logger()


@instrumented
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    settings = RecordOutcomeSettings.from_env(os.environ)
    request = OutcomeRequest.model_validate(event)
    log_keys(release_id=request.release.release_id, outcome=request.outcome)
    approvals = wiring.approvals(settings) if settings.approvals_table else None
    result = record_outcome(
        request, ledger=wiring.ledger(settings), approvals=approvals, publisher=wiring.publisher(settings)
    )
    logger.info("adoption ended", extra=result)
    return result
