"""The adoption workflow's ASL file: every Lambda task retries Lambda's transient service errors as AWS recommends."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ASL = Path(__file__).resolve().parents[3] / "infra" / "workflows" / "adopt_release.asl.json"

# Step Functions developer guide, "Handle Lambda service exceptions"
# (https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html): retry the 500-class
# invoke errors with IntervalSeconds 2, MaxAttempts 6, BackoffRate 2; Lambda.TooManyRequestsException is
# Lambda's throttle. Sandbox.Timedout is Lambda's error for a function that ran out of time
# (https://docs.aws.amazon.com/lambda/latest/dg/troubleshooting-invocation.html#troubleshooting-timeouts):
# every step is idempotent, so a timed-out attempt is retried too.
TRANSIENT = {
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "Sandbox.Timedout",
}
BACKOFF = {"IntervalSeconds": 2, "MaxAttempts": 6, "BackoffRate": 2}


def tasks(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every Task state, nested Map and Parallel states included."""
    for name, state in states.items():
        if state["Type"] == "Task":
            yield name, state
        for processor in (state.get("ItemProcessor"), state.get("Iterator"), *state.get("Branches", [])):
            if processor:
                yield from tasks(processor["States"])


def test_every_lambda_task_retries_lambda_service_errors_with_the_recommended_backoff() -> None:
    definition = json.loads(ASL.read_text())
    found = dict(tasks(definition["States"]))
    lambda_tasks = {n: s for n, s in found.items() if s["Resource"].startswith("arn:aws:states:::lambda:invoke")}
    # The one other task starts a team's state machine: it raises no Lambda errors.
    assert set(found) - set(lambda_tasks) == {"TeamTestStateMachine"}
    assert {"AwaitApproval", "Validate", "MirrorImage", "MirrorArchive", "Promote", "RecordFailure"} <= set(
        lambda_tasks
    )
    for name, state in lambda_tasks.items():
        retriers = [r for r in state.get("Retry", []) if set(r["ErrorEquals"]) >= TRANSIENT]
        assert retriers, f"{name} does not retry {sorted(TRANSIENT)}"
        assert {k: retriers[0].get(k) for k in BACKOFF} == BACKOFF, name
        assert "States.ALL" not in {e for r in state.get("Retry", []) for e in r["ErrorEquals"]}, name
