"""Workflow step 4: built-in smoke tests on the staged copy (platforms, config os/arch, archives re-hashed)."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from eksd_adopt.workflow import artifacts
from eksd_adopt.workflow.checks import StagedImage, run_smoke_tests
from eksd_adopt.workflow.config import WorkflowSettings
from eksd_adopt.workflow.steps import PlanHeader, plan_from_state

logger = Logger()
tracer = Tracer()


class SmokeEvent(BaseModel):
    plan: PlanHeader
    jobs: list[dict[str, Any]]
    images: list[StagedImage]


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = WorkflowSettings.from_env(os.environ)
    request = SmokeEvent.model_validate(event)
    logger.append_keys(release_id=request.plan.release_id)
    return run_smoke_tests(
        plan_from_state(request.plan, request.jobs), request.images, artifacts=artifacts.staged_artifacts(settings)
    )
