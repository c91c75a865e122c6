"""Workflow step 5b: promote an approved release into a stage and point the stage's SSM parameter at it."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from eksd_adopt.workflow import artifacts, wiring
from eksd_adopt.workflow.checks import StagedRef, load_staged_images
from eksd_adopt.workflow.config import WorkflowSettings
from eksd_adopt.workflow.models import ReleaseRef
from eksd_adopt.workflow.plans import PlanRef, load_plan
from eksd_adopt.workflow.promotion import promote

logger = Logger()
tracer = Tracer()


class PromoteEvent(BaseModel):
    release: ReleaseRef
    plan: PlanRef
    staged: StagedRef
    stage: str


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = WorkflowSettings.from_env(os.environ)
    request = PromoteEvent.model_validate(event)
    logger.append_keys(release_id=request.release.release_id, stage=request.stage)
    store = wiring.documents(settings)
    result = promote(
        request.release,
        load_plan(request.plan, store),
        load_staged_images(request.staged, request.release.release_id, store),
        request.stage,
        promoter=artifacts.promoter(settings),
        store=store,
        pointers=wiring.pointers(settings),
        ledger=wiring.ledger(settings),
        publisher=wiring.publisher(settings),
        registry_host=settings.registry_host,
    )
    return result.model_dump(mode="json")
