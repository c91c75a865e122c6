"""Workflow step 4: built-in smoke tests on the staged copy (platforms, config os/arch, archives re-hashed)."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from eksd_adopt.workflow import artifacts, wiring
from eksd_adopt.workflow.checks import StagedRef, load_staged_images, run_smoke_tests
from eksd_adopt.workflow.config import WorkflowSettings
from eksd_adopt.workflow.plans import PlanRef, load_plan

logger = Logger()
tracer = Tracer()


class SmokeEvent(BaseModel):
    plan: PlanRef
    staged: StagedRef


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = WorkflowSettings.from_env(os.environ)
    request = SmokeEvent.model_validate(event)
    logger.append_keys(release_id=request.plan.release_id)
    store = wiring.documents(settings)
    return run_smoke_tests(
        load_plan(request.plan, store),
        load_staged_images(request.staged, request.plan.release_id, store),
        artifacts=artifacts.staged_artifacts(settings),
    )
