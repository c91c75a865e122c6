"""Each record of an intake batch logs under its own keys, never under the previous record's."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from eksd_adopt.observability import SERVICE_NAME
from tests.integration.intake.conftest import IntakeWorld
from tests.integration.intake.test_intake_handler import invoke
from tests.logcapture import service_logs


@pytest.mark.reliability(
    area="logs",
    fault="a valid announcement and then a junk message in one SQS batch",
    expected="the junk message's 'notification refused' line carries its own message id and no release keys",
)
def test_a_refused_record_does_not_log_under_the_previous_records_release(
    world: IntakeWorld, observed: Callable[[str], None]
) -> None:
    world.publish_release("1-31", 9)
    world.announce("Amazon EKS Distro v1-31-eks-9 is now available.")
    world.announce("Greetings from a topic that says nothing about EKS-D.")
    event = world.receive(expected=2)
    # SQS does not order a standard queue: put the valid record first, as the bug needs.
    event["Records"].sort(key=lambda record: "1-31-eks-9" not in record["body"])
    valid_id, junk_id = (record["messageId"] for record in event["Records"])

    with service_logs(SERVICE_NAME) as logs:
        response = invoke(world, event)

    assert response == {"batchItemFailures": [{"itemIdentifier": junk_id}]}
    lines = logs.lines()
    handled = next(line for line in lines if line["message"] == "announcement handled")
    refused = next(line for line in lines if line["message"] == "notification refused")
    assert handled["sqs_message_id"] == valid_id and handled["release_id"] == "1-31-9"
    assert refused["sqs_message_id"] == junk_id
    leaked = {key: refused[key] for key in ("release_id", "channel", "number", "sns_message_id") if key in refused}
    assert leaked == {}, f"the refused record logged the previous record's keys: {leaked}"
    observed(f"refused line keys: sqs_message_id={junk_id}, no release_id/channel/number/sns_message_id")
