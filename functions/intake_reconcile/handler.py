"""Reconciler (EventBridge schedule): start every release the channel files name that the ledger lacks.

SNS alone has missed real releases; this is the backstop. Releases it starts that no notification
announced are counted in the ``MissedNotifications`` metric. The run fails (so the function's
Errors metric raises the alarm) when any channel or release could not be handled, after doing the rest.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from eksd_adopt.errors import EksdAdoptError
from eksd_adopt.intake import IntakeService, IntakeSettings, ReconcileReport, wiring

logger = Logger()
tracer = Tracer()
metrics = Metrics(namespace="EksdAdopt")


class ReconcileError(EksdAdoptError):
    """Some channels or releases could not be reconciled (the rest were)."""


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext, service: IntakeService | None = None) -> dict[str, Any]:
    settings = IntakeSettings.from_env(os.environ)
    report = ReconcileReport()
    try:
        with wiring.http_client() as client:
            intake = service or wiring.intake_service(settings, client)
            intake.reconcile(grace=timedelta(seconds=settings.reconcile_grace_seconds), report=report)
    finally:
        # Also when the run fails half-way: what it started is counted (MissedNotifications) all the same.
        _record(report)
    if report.errors:
        raise ReconcileError(f"{len(report.errors)} error(s): {report.errors}")
    return report.model_dump(mode="json")


def _record(report: ReconcileReport) -> None:
    metrics.add_metric(name="MissedNotifications", unit=MetricUnit.Count, value=len(report.missed))
    metrics.add_metric(name="ReconcilerStarted", unit=MetricUnit.Count, value=len(report.started))
    metrics.add_metric(name="ReconcilerErrors", unit=MetricUnit.Count, value=len(report.errors))
    logger.info(
        "reconciled",
        extra={
            "channels": [c.channel for c in report.channels],
            "detected": report.detected,
            "started": report.started,
            "missed": report.missed,
            "errors": report.errors,
        },
    )
