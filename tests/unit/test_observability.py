"""Log keys belong to one invocation: another invocation starting in the same process (as the local runtime
runs a Map's branches and the approvers' endpoint beside the workflow) neither wipes nor overwrites them."""

from __future__ import annotations

import threading
from typing import Any

from eksd_adopt.local.lambdas import LambdaContext
from eksd_adopt.observability import handler_logger, instrumented, log_keys, scoped_log_keys
from tests.logcapture import service_logs


def test_an_invocation_starting_elsewhere_keeps_this_ones_audit_keys() -> None:
    keys_set, other_started = threading.Event(), threading.Event()

    @instrumented
    def approvals(event: dict[str, Any], context: LambdaContext) -> None:
        log_keys(caller="arn:aws:iam::123456789012:role/ReleaseApprovers", release_id="1-20-21")
        keys_set.set()
        assert other_started.wait(5)
        handler_logger().warning("refused", extra={"status": 409})

    @instrumented
    def promote(event: dict[str, Any], context: LambdaContext) -> None:
        assert keys_set.wait(5)
        log_keys(release_id="1-31-9", stage="prod")
        other_started.set()
        handler_logger().info("promoted")

    with service_logs() as logs:
        threads = [
            threading.Thread(target=approvals, args=({}, LambdaContext.of("approvals_api"))),
            threading.Thread(target=promote, args=({}, LambdaContext.of("workflow_promote"))),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)

    by_message = {line["message"]: line for line in logs.lines()}
    refused, promoted = by_message["refused"], by_message["promoted"]
    assert refused["caller"] == "arn:aws:iam::123456789012:role/ReleaseApprovers"
    assert (refused["release_id"], refused["function_name"]) == ("1-20-21", "eksd-adopt-approvals-api")
    assert "stage" not in refused
    assert (promoted["release_id"], promoted["function_name"]) == ("1-31-9", "eksd-adopt-workflow-promote")
    assert "caller" not in promoted


def test_a_warm_invocation_starts_without_the_previous_ones_keys() -> None:
    @instrumented
    def first(event: dict[str, Any], context: LambdaContext) -> None:
        log_keys(release_id="1-20-21")

    @instrumented
    def second(event: dict[str, Any], context: LambdaContext) -> None:
        handler_logger().info("second")

    with service_logs() as logs:
        first({}, LambdaContext.of("workflow_validate"))
        second({}, LambdaContext.of("workflow_validate"))

    (line,) = (line for line in logs.lines() if line["message"] == "second")
    assert "release_id" not in line and line["cold_start"] is False


def test_scoped_keys_leave_the_invocations_keys_as_they_were() -> None:
    @instrumented
    def batch(event: dict[str, Any], context: LambdaContext) -> None:
        log_keys(batch="b1")
        with scoped_log_keys(sqs_message_id="m1"):
            log_keys(release_id="1-31-9")
            handler_logger().info("inside")
        handler_logger().info("after")

    with service_logs() as logs:
        batch({}, LambdaContext.of("intake_notification"))

    lines = {line["message"]: line for line in logs.lines()}
    assert (lines["inside"]["sqs_message_id"], lines["inside"]["release_id"]) == ("m1", "1-31-9")
    assert lines["after"]["batch"] == "b1"
    assert not {"sqs_message_id", "release_id"} & lines["after"].keys()
