"""Capture the handlers' structured log lines exactly as Lambda would ship them (Powertools JSON), at INFO."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aws_lambda_powertools import Logger

SERVICE = "eksd-adopt"


class CapturedLogs:
    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines() if line.startswith("{")]


@contextmanager
def service_logs(name: str = SERVICE, level: int = logging.INFO) -> Iterator[CapturedLogs]:
    """A second handler on the service logger with the Powertools formatter (so appended keys are there too)."""
    Logger(service=name)  # make sure the service logger and its formatter exist
    service = logging.getLogger(name)
    stream = io.StringIO()
    capture = logging.StreamHandler(stream)
    capture.setFormatter(service.handlers[0].formatter)
    saved = service.level
    service.addHandler(capture)
    service.setLevel(level)
    try:
        yield CapturedLogs(stream)
    finally:
        service.removeHandler(capture)
        service.setLevel(saved)


def emitted_metrics(output: str) -> dict[str, float]:
    """Sum of every metric in the EMF lines Powertools printed."""
    totals: dict[str, float] = {}
    for line in output.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        blob = json.loads(line)
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                value = blob[metric["Name"]]
                totals[metric["Name"]] = totals.get(metric["Name"], 0) + (
                    sum(value) if isinstance(value, list) else value
                )
    return totals
