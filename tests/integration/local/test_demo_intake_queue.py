"""The demo's intake queue redrives as the stack's does: a message the intake keeps refusing ends in the DLQ."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from eksd_adopt.local.aws import LocalAws
from eksd_adopt.local.demo import (
    INTAKE_MAX_RECEIVE_COUNT,
    INTAKE_VISIBILITY_SECONDS,
    NOT_FOUND_RETRY_SECONDS,
    create_intake_queue,
)
from eksd_adopt.local.eventsource import SqsEventSource


def test_the_demo_uses_the_stacks_redrive_policy() -> None:
    from infra.constructs import intake

    assert int(intake.MAX_RECEIVE_COUNT) == INTAKE_MAX_RECEIVE_COUNT
    # The stack's rule between the not-yet-published window, the visibility timeout and the receive count.
    stack_rule = intake.NOT_FOUND_RETRY.to_seconds() // intake.VISIBILITY_TIMEOUT.to_seconds() + 2
    assert NOT_FOUND_RETRY_SECONDS // INTAKE_VISIBILITY_SECONDS + 2 == stack_rule == INTAKE_MAX_RECEIVE_COUNT


@pytest.mark.reliability(
    area="local runtime",
    fault="a junk message on the demo's upstream topic, refused by the intake on every receive",
    expected=f"after {INTAKE_MAX_RECEIVE_COUNT} receives it is in the intake DLQ and stops coming back",
)
def test_a_refused_message_ends_in_the_dead_letter_queue(observed: Callable[[str], None]) -> None:
    with LocalAws() as runtime:
        topic = runtime.client("sns").create_topic(Name="eks-distro-updates")["TopicArn"]
        queue_url, dead_letter_url = create_intake_queue(runtime, topic, visibility_seconds=1)
        sqs = runtime.client("sqs")
        redrive = json.loads(
            sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])["Attributes"][
                "RedrivePolicy"
            ]
        )
        dead_letter_arn = sqs.get_queue_attributes(QueueUrl=dead_letter_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        assert redrive == {"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": INTAKE_MAX_RECEIVE_COUNT}
        with runtime.env(
            STATE_MACHINE_ARN=runtime.state_machine_arn, UPSTREAM_TOPIC_ARN=topic, TRACKED_CHANNELS="1-20"
        ):
            source = SqsEventSource(runtime, queue_url, "intake_notification").start()
            try:
                runtime.client("sns").publish(TopicArn=topic, Message="Not an EKS-D announcement at all.")
                deadline = time.monotonic() + 60
                while not _count(sqs, dead_letter_url) and time.monotonic() < deadline:
                    time.sleep(0.2)
            finally:
                source.stop()
        assert _count(sqs, dead_letter_url) == 1
        assert _count(sqs, queue_url) == 0
        assert source.failures == INTAKE_MAX_RECEIVE_COUNT
    observed(f"refused {source.failures} times, then moved to the DLQ")


def _count(sqs: object, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(  # type: ignore[attr-defined]
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])
