"""Workflow step 4 (end): both test steps passed; record it in the ledger and publish release.tested."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from eksd_adopt.observability import handler_logger, instrumented, log_keys
from eksd_adopt.workflow import wiring
from eksd_adopt.workflow.checks import record_tested
from eksd_adopt.workflow.config import RecordTestedSettings
from eksd_adopt.workflow.models import ReleaseRef

logger = handler_logger()


class TestedEvent(BaseModel):
    release: ReleaseRef
    smoke: dict[str, Any]
    team: dict[str, Any] | None = None


@instrumented
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = RecordTestedSettings.from_env(os.environ)
    request = TestedEvent.model_validate(event)
    log_keys(release_id=request.release.release_id)
    return record_tested(
        request.release,
        request.smoke,
        request.team,
        ledger=wiring.ledger(settings),
        publisher=wiring.publisher(settings),
    )
