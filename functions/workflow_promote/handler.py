"""Workflow step 5b: promote an approved release into a stage, sign its adoption record, point the stage at it.

Also the only signer of a rollback's record: the approvers' endpoint invokes it with ``{"rollback": ...}``
(only this function may use the signing key).
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict

from eksd_adopt.workflow import artifacts, wiring
from eksd_adopt.workflow.config import WorkflowSettings
from eksd_adopt.workflow.promotion import Attestation, promote, record_rollback
from eksd_adopt.workflow.records import RollbackRequest
from eksd_adopt.workflow.state import PromotionState

logger = Logger()
tracer = Tracer()


class RollbackInvocation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rollback: RollbackRequest


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = WorkflowSettings.from_env(os.environ)
    if "rollback" in event:
        request = RollbackInvocation.model_validate(event).rollback
        logger.append_keys(release_id=request.release_id, stage=request.stage, by=request.by)
        return {"record_key": record_rollback(wiring.recording(settings), request)}
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
        attestation=Attestation(
            evidence=state.evidence(), recording=wiring.recording(settings), approvals=wiring.approvals(settings)
        ),
    )
    return result.model_dump(mode="json")
