"""Workflow step 5b: promote an approved release into a stage, sign its adoption record, point the stage at it.

Also the only signer of a rollback's record: the approvers' endpoint invokes it with ``{"rollback": ...}``
(only this function may use the signing key).
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from eksd_adopt.observability import handler_logger, instrumented, log_keys
from eksd_adopt.workflow import wiring
from eksd_adopt.workflow.config import PromoteSettings
from eksd_adopt.workflow.promotion import record_rollback
from eksd_adopt.workflow.records import RollbackInvocation
from eksd_adopt.workflow.state import PromotionState

logger = handler_logger()


@instrumented
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = PromoteSettings.from_env(os.environ)
    if "rollback" in event:
        request = RollbackInvocation.model_validate(event).rollback
        log_keys(release_id=request.release_id, stage=request.stage, by=request.by)
        return {"record_key": record_rollback(wiring.recording(settings), request)}
    state = PromotionState.model_validate(event)
    log_keys(release_id=state.release.release_id, stage=state.stage)
    return wiring.promote_state(settings, state).model_dump(mode="json")
