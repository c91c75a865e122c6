"""How the functions report: one service name and metrics namespace, which the stack's alarms and dashboard
read, and one shape of handler instrumentation (Powertools' logger, tracer and metrics).

Domain modules log through :func:`domain_logger`, a child of the functions' logger with no level of its
own: in a function its lines go out through the handler's logger, at its level and with the keys it
appended; in the CLI, where no handler logger exists, they reach Python's last-resort handler (warnings
on stderr) and never the command's output. So the handler's logger, the tracer (``aws_xray_sdk`` is slow
to import) and the metrics are built on first use only.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger, Metrics

SERVICE_NAME = "eksd-adopt"
METRICS_NAMESPACE = "EksdAdopt"

# What every function's environment holds (the function factory and the local runtime both set it).
ENVIRONMENT = {
    "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
    "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
    "POWERTOOLS_LOG_LEVEL": "INFO",
}

Handler = TypeVar("Handler", bound=Callable[..., Any])
# How domain code counts what it did without knowing Powertools: (name, value, CloudWatch unit).
MetricSink = Callable[[str, float, str], None]


@functools.cache
def domain_logger() -> Logger:
    """The domain's logger (``eksd-adopt.eksd_adopt.observability``): NOTSET, so the handler logger's level
    applies to its lines too, whenever either was created."""
    from aws_lambda_powertools import Logger

    return Logger(service=SERVICE_NAME, child=True, level=logging.NOTSET)


@functools.cache
def handler_logger() -> Logger:
    """The functions' logger (JSON lines on stdout, which Lambda sends to CloudWatch Logs)."""
    from aws_lambda_powertools import Logger

    return Logger(service=SERVICE_NAME)


@functools.cache
def _metrics() -> Metrics:
    from aws_lambda_powertools import Metrics

    return Metrics(namespace=METRICS_NAMESPACE, service=SERVICE_NAME)


@functools.cache
def _tracer() -> Any:
    from aws_lambda_powertools import Tracer

    return Tracer(service=SERVICE_NAME)


def record_metric(name: str, value: float, unit: str = "Count") -> None:
    """Add a metric to the invocation's EMF document (flushed when the handler returns)."""
    _metrics().add_metric(name=name, unit=unit, value=value)


def instrumented(handler: Handler) -> Handler:
    """A Lambda handler with the context in its log lines (cleared per invocation: a warm container must not
    log one release under another's keys), an X-Ray subsegment, and its metrics flushed as EMF when it ends."""

    @functools.wraps(handler)
    def flushing(*args: Any, **kwargs: Any) -> Any:
        try:
            return handler(*args, **kwargs)
        finally:
            # Only when something was counted: Powertools warns on an empty flush, and most steps count nothing.
            if _metrics().metric_set:
                _metrics().flush_metrics()
                _metrics().clear_metrics()  # flush keeps them when POWERTOOLS_METRICS_DISABLED is set

    traced = _tracer().capture_lambda_handler(flushing)
    return handler_logger().inject_lambda_context(clear_state=True)(traced)
