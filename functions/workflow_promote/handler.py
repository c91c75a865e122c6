"""Workflow step 5b: promote an approved release into a stage and point the stage's SSM parameter at it."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from eksd_adopt.workflow import artifacts, wiring
from eksd_adopt.workflow.config import WorkflowSettings
from eksd_adopt.workflow.promotion import promote
from eksd_adopt.workflow.state import PromotionState

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = WorkflowSettings.from_env(os.environ)
    state = PromotionState.model_validate(event)
    logger.append_keys(release_id=state.release.release_id, stage=state.stage)
    store = wiring.documents(settings)
    result = promote(
        state.release,
        state.copy_plan(store),
        state.staged_images(store),
        state.stage,
        promoter=artifacts.promoter(settings),
        store=store,
        pointers=wiring.pointers(settings),
        ledger=wiring.ledger(settings),
        publisher=wiring.publisher(settings),
        registry_host=settings.registry_host,
    )
    return result.model_dump(mode="json")
