"""Workflow step 5a: open a stage's approval gate (the state machine waits on the task token)."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from eksd_adopt.approvals.gates import GateRequest, request_approval
from eksd_adopt.observability import handler_logger, instrumented, log_keys
from eksd_adopt.workflow import wiring
from eksd_adopt.workflow.config import RequestApprovalSettings

logger = handler_logger()


@instrumented
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = RequestApprovalSettings.from_env(os.environ)
    gate = GateRequest.model_validate(event)
    log_keys(release_id=gate.release.release_id, stage=gate.stage)
    request = request_approval(
        gate,
        settings.stage_rules,
        approvals=wiring.approvals(settings),
        pointers=wiring.pointers(settings),
        store=wiring.documents(settings),
        notifier=wiring.notifier(settings),
        ledger=wiring.ledger(settings),
        publisher=wiring.publisher(settings),
        prefix=settings.prefix,
    )
    logger.info("approval requested", extra={"expires_at": str(request.expires_at)})
    return {"release_id": request.release_id, "stage": request.stage, "status": request.status.value}
