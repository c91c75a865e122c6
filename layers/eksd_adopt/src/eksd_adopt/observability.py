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
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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


# Powertools' metric set is one per process. Lambda runs one invocation per environment at a time; the local
# runtime runs several at once, and a flush iterating the set while another invocation adds to it would fail.
_metrics_lock = threading.Lock()


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
    with _metrics_lock:
        _metrics().add_metric(name=name, unit=unit, value=value)


def discard_metrics() -> None:
    """Drop what this process counted and has not flushed (the set is shared by every Metrics instance)."""
    with _metrics_lock:
        _metrics().clear_metrics()


def log_keys(**keys: object) -> None:
    """Keys on every further line of this invocation (the handler's and the domain's).

    They live in Powertools' per-thread keys (a ContextVar), not in its formatter's shared format: the
    local runtime runs many functions' invocations in one process at once (a Map state's branches, the
    approvers' endpoint while the workflow resumes), and one invocation's start must not wipe or overwrite
    the keys of another, least of all the caller on an audit line."""
    handler_logger().thread_safe_append_keys(**keys)


@contextmanager
def scoped_log_keys(**keys: object) -> Iterator[None]:
    """Keys for one unit of work within an invocation (an SQS record of a batch): on entry, plus any that
    :func:`log_keys` adds inside; on exit, the invocation's keys exactly as they were before."""
    logger = handler_logger()
    before = dict(logger.thread_safe_get_current_keys())
    logger.thread_safe_append_keys(**keys)
    try:
        yield
    finally:
        logger.thread_safe_clear_keys()
        logger.thread_safe_append_keys(**before)


_cold_start = True


def _start_invocation(context: Any) -> None:
    # What Powertools' inject_lambda_context(clear_state=True) logs, but as per-thread keys (see log_keys):
    # cleared first, since a warm container must not log one release under another's keys.
    from aws_lambda_powertools.logging.lambda_context import build_lambda_context_model

    global _cold_start
    logger = handler_logger()
    logger.thread_safe_clear_keys()
    logger.thread_safe_append_keys(cold_start=_cold_start, **build_lambda_context_model(context).__dict__)
    _cold_start = False


def instrumented(handler: Handler) -> Handler:
    """A Lambda handler with the context in its log lines (cleared per invocation), an X-Ray subsegment,
    and its metrics flushed as EMF when it ends."""

    @functools.wraps(handler)
    def invocation(event: Any, context: Any, *args: Any, **kwargs: Any) -> Any:
        _start_invocation(context)
        try:
            return handler(event, context, *args, **kwargs)
        finally:
            # Only when something was counted: Powertools warns on an empty flush, and most steps count nothing.
            with _metrics_lock:
                if _metrics().metric_set:
                    _metrics().flush_metrics()
                    _metrics().clear_metrics()  # flush keeps them when POWERTOOLS_METRICS_DISABLED is set

    traced: Handler = _tracer().capture_lambda_handler(invocation)
    return traced
