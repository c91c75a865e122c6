"""Workflow step 1: validate the release manifest, store it write-once, store its copy plan for the Map."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from eksd_adopt.observability import handler_logger, instrumented, log_keys
from eksd_adopt.workflow import wiring
from eksd_adopt.workflow.config import ValidateSettings
from eksd_adopt.workflow.steps import ValidateRequest, validate_and_plan

logger = handler_logger()


@instrumented
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = ValidateSettings.from_env(os.environ)
    request = ValidateRequest.model_validate({**event, "prefix": settings.prefix})
    log_keys(release_id=request.release_id)
    with wiring.upstream_manifests(settings) as (policy, fetch):
        result = validate_and_plan(
            request, store=wiring.documents(settings), ledger=wiring.ledger(settings), policy=policy, fetch=fetch
        )
    logger.info("release validated", extra={"jobs": len(result.items), "warnings": len(result.warnings)})
    return result.for_state()
