"""Workflow step 4: built-in smoke tests on the staged copy (platforms, config os/arch, archives re-hashed)."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from eksd_adopt.observability import handler_logger, instrumented, log_keys
from eksd_adopt.workflow import artifacts, wiring
from eksd_adopt.workflow.checks import run_smoke_tests
from eksd_adopt.workflow.config import SmokeTestSettings
from eksd_adopt.workflow.state import AdoptionState

logger = handler_logger()


@instrumented
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = SmokeTestSettings.from_env(os.environ)
    state = AdoptionState.model_validate(event)
    log_keys(release_id=state.release.release_id)
    store = wiring.documents(settings)
    return run_smoke_tests(
        state.copy_plan(store),
        state.staged_images(store),
        artifacts=artifacts.staged_artifacts(settings),
    )
