"""The local runtime holds Step Functions to its 256 KiB payload quota as AWS does, uncatchable by States.ALL.

AWS: https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html ("States.DataLimitExceeded"
is reported for a connector's output, a state's output, or a state's input after Parameters, over the quota; States.ALL
cannot catch it). moto alone lets States.ALL catch it and never checks a Lambda's request payload.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from eksd_adopt.local.aws import ACCOUNT, STATE_PAYLOAD_LIMIT, LocalAws, state_payload_bytes

pytestmark = [pytest.mark.xdist_group("workflow")]


def machine(aws: LocalAws, name: str, states: dict[str, Any], start: str) -> str:
    definition = {"StartAt": start, "States": states}
    return str(
        aws.client("stepfunctions").create_state_machine(
            name=name, definition=json.dumps(definition), roleArn=f"arn:aws:iam::{ACCOUNT}:role/quota-test"
        )["stateMachineArn"]
    )


def run(aws: LocalAws, arn: str, execution_input: dict[str, Any]) -> dict[str, Any]:
    started = aws.client("stepfunctions").start_execution(
        stateMachineArn=arn, name=uuid.uuid4().hex, input=json.dumps(execution_input, separators=(",", ":"))
    )
    return aws.wait_for_execution(started["executionArn"], timeout=30)


def guarded_task(function_arn: str, payload: dict[str, Any]) -> dict[str, Any]:
    """A Lambda task that retries and catches everything States.ALL matches."""
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": function_arn, "Payload": payload},
        "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 2}],
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
        "End": True,
    }


CAUGHT = {"Type": "Pass", "End": True}


def test_a_lambda_response_over_the_quota_fails_the_execution_past_retry_and_catch(aws: LocalAws) -> None:
    calls: list[dict[str, Any]] = []

    def large(event: dict[str, Any], context: Any) -> dict[str, Any]:
        calls.append(event)
        return {"results": "x" * STATE_PAYLOAD_LIMIT}

    arn = machine(
        aws,
        "quota-response",
        {"T": guarded_task(aws.register_function("quota_large", large), {}), "Caught": CAUGHT},
        "T",
    )
    final = run(aws, arn, {})
    assert (final["status"], final.get("error")) == ("FAILED", "States.DataLimitExceeded")
    assert len(calls) == 1  # never retried


def test_a_lambda_request_over_the_quota_fails_before_the_function_runs(aws: LocalAws) -> None:
    calls: list[dict[str, Any]] = []
    function = aws.register_function("quota_small", lambda event, context: calls.append(event) or {})
    half = "y" * (STATE_PAYLOAD_LIMIT // 2)
    states = {"T": guarded_task(function, {"a.$": "$.half", "b.$": "$.half"}), "Caught": CAUGHT}
    final = run(aws, machine(aws, "quota-request", states, "T"), {"half": half})
    assert (final["status"], final.get("error")) == ("FAILED", "States.DataLimitExceeded")
    assert calls == []


def test_exactly_256_kib_passes_and_one_byte_more_fails(aws: LocalAws) -> None:
    arn = machine(aws, "quota-boundary", {"P": {"Type": "Pass", "End": True}}, "P")
    overhead = state_payload_bytes({"b": ""})
    at_limit = {"b": "z" * (STATE_PAYLOAD_LIMIT - overhead)}
    assert state_payload_bytes(at_limit) == 262_144
    assert run(aws, arn, at_limit)["status"] == "SUCCEEDED"
    # A state whose output grows one byte past the quota fails the execution.
    grows = {"P": {"Type": "Pass", "Result": "z", "ResultPath": "$.c", "End": True}}
    grown = machine(aws, "quota-grows", grows, "P")
    just_under = {"b": "z" * (STATE_PAYLOAD_LIMIT - overhead - len(',"c":"z"') + 1)}
    final = run(aws, grown, just_under)
    assert (final["status"], final.get("error")) == ("FAILED", "States.DataLimitExceeded")


def test_start_execution_refuses_an_input_over_the_quota_and_starts_nothing(aws: LocalAws) -> None:
    # AWS: StartExecution's input has "Length Constraints: Maximum length of 262144"; over it, a
    # ValidationException and no execution (moto alone starts one and fails its first state).
    sfn = aws.client("stepfunctions")
    arn = machine(aws, "quota-start", {"P": {"Type": "Pass", "End": True}}, "P")
    overhead = state_payload_bytes({"b": ""})
    over = json.dumps({"b": "z" * (STATE_PAYLOAD_LIMIT - overhead + 1)}, separators=(",", ":"))
    with pytest.raises(sfn.exceptions.ValidationException, match="262144"):
        sfn.start_execution(stateMachineArn=arn, name="too-large", input=over)
    assert sfn.list_executions(stateMachineArn=arn)["executions"] == []


def test_a_map_whose_results_outgrow_the_quota_fails_uncaught(aws: LocalAws) -> None:
    """The shape issue 13 found: per-item results gathered into the state."""
    item = aws.register_function("quota_item", lambda event, context: {"result": "r" * 1024})
    states = {
        "Each": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "INLINE"},
                "StartAt": "Item",
                "States": {
                    "Item": {
                        "Type": "Task",
                        "Resource": "arn:aws:states:::lambda:invoke",
                        "Parameters": {"FunctionName": item, "Payload.$": "$"},
                        "OutputPath": "$.Payload",
                        "End": True,
                    }
                },
            },
            "ResultPath": "$.results",
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
            "End": True,
        },
        "Caught": CAUGHT,
    }
    arn = machine(aws, "quota-map", states, "Each")
    assert run(aws, arn, {"items": list(range(100))})["status"] == "SUCCEEDED"
    final = run(aws, arn, {"items": list(range(300))})
    assert (final["status"], final.get("error")) == ("FAILED", "States.DataLimitExceeded")
