"""Workflow step 1: validate the release manifest and plan its copy jobs."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from eksd_adopt.workflow.steps import ValidateRequest, validate_and_plan

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = ValidateRequest.model_validate(event)
    logger.append_keys(release_id=request.release_id)
    return validate_and_plan(request).model_dump(mode="json")
