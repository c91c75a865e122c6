"""Reconciler (EventBridge schedule): start every release the channel files name that the ledger lacks.

SNS alone has missed real releases; this is the backstop. Releases it starts that no notification
announced are counted in the ``MissedNotifications`` metric. The run fails (so the function's
Errors metric raises the alarm) when any channel or release could not be handled, after doing the rest.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from eksd_adopt.intake import IntakeService, IntakeSettings, wiring
from eksd_adopt.intake.messages import run_reconciler
from eksd_adopt.observability import instrumented, record_metric


@instrumented
def handler(event: dict[str, Any], context: LambdaContext, service: IntakeService | None = None) -> dict[str, Any]:
    settings = IntakeSettings.from_env(os.environ)
    with wiring.http_client() as client:
        intake = service or wiring.intake_service(settings, client)
        return run_reconciler(intake, settings, metrics=record_metric).model_dump(mode="json")
