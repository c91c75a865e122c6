"""Workflow step 3: re-check every staged artifact against the manifest and write the staged manifest."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from eksd_adopt.observability import handler_logger, instrumented, log_keys
from eksd_adopt.workflow import artifacts, wiring
from eksd_adopt.workflow.checks import verify_staged
from eksd_adopt.workflow.config import VerifySettings
from eksd_adopt.workflow.state import AdoptionState

logger = handler_logger()


@instrumented
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = VerifySettings.from_env(os.environ)
    state = AdoptionState.model_validate(event)
    log_keys(release_id=state.release.release_id)
    store = wiring.documents(settings)
    result = verify_staged(
        state.release,
        state.copy_plan(store),
        artifacts=artifacts.staged_artifacts(settings),
        store=store,
        ledger=wiring.ledger(settings),
        publisher=wiring.publisher(settings),
        registry_host=settings.registry_host,
    )
    return result.model_dump(mode="json")
