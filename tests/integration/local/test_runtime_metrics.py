"""In-process functions with metrics disabled print no EMF lines, however many invocations the runtime serves."""

from __future__ import annotations

from typing import Any

import pytest
from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

from eksd_adopt.local.aws import LocalAws


@pytest.mark.reliability(
    area="local runtime",
    fault="150 in-process invocations, each adding a metric, with POWERTOOLS_METRICS_DISABLED",
    expected="no EMF line on stdout (Powertools' flush at a metric's 100th value would print one)",
)
def test_disabled_metrics_do_not_pile_up_into_an_emf_line(capfd: pytest.CaptureFixture[str]) -> None:
    metrics = Metrics(namespace="EksdAdopt")

    @metrics.log_metrics
    def counting(event: dict[str, Any], context: Any) -> dict[str, Any]:
        metrics.add_metric(name="Invocations", unit=MetricUnit.Count, value=1)
        return {}

    with LocalAws() as runtime:
        runtime.register_function("counting", counting)
        for _ in range(150):
            runtime.invoke("counting", {})
    assert '"CloudWatchMetrics"' not in capfd.readouterr().out
