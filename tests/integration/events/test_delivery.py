"""SNS -> SQS delivery with the real filter policies (moto evaluates them): each subscriber gets exactly its events."""

from __future__ import annotations

from collections.abc import Callable

import boto3
import pytest

from eksd_adopt.events import (
    EventFilter,
    EventPublishError,
    EventType,
    ReleaseEvent,
    make_event,
    parse_event,
)
from eksd_adopt.events.catalog import FILTER_EXAMPLES, example_event
from eksd_adopt.events.sns import SnsEventPublisher, SnsSubscriptions
from eksd_adopt.events.subscriptions import parse_endpoint
from tests.integration.events.conftest import REGION, drain, make_queue

CHANNELS = {"1-29": "v1.29.14", "1-30": "v1.30.11", "1-31": "v1.31.7"}

# What each documented filter must let through, written independently of the code under test.
EXPECTED: dict[str, Callable[[ReleaseEvent], bool]] = {
    "Only 1-30 promoted events": lambda e: e.channel == "1-30" and e.event_type is EventType.PROMOTED,
    "All failures (any channel, any stage)": lambda e: e.event_type is EventType.FAILED,
    "Everything that needs or records a prod decision": lambda e: (
        e.stage == "prod"
        and e.event_type in {EventType.AWAITING_APPROVAL, EventType.APPROVED, EventType.REJECTED, EventType.EXPIRED}
    ),
    "Promotions and rollbacks of Kubernetes 1.30 and 1.31": lambda e: (
        e.channel in {"1-30", "1-31"} and e.event_type in {EventType.PROMOTED, EventType.ROLLED_BACK}
    ),
}


def matrix() -> list[ReleaseEvent]:
    """Every event type for three channels; promotions, approvals and failures also in a second stage."""
    events: list[ReleaseEvent] = []
    for channel, version in CHANNELS.items():
        for event_type in EventType:
            example = example_event(event_type)
            stages = [example.stage]
            if event_type in {EventType.PROMOTED, EventType.AWAITING_APPROVAL, EventType.APPROVED}:
                stages.append("dev")
            if event_type is EventType.FAILED:
                stages.append(None)
            for stage in stages:
                events.append(
                    make_event(
                        event_type,
                        release_id=f"{channel}-{example.number}",
                        channel=channel,
                        number=example.number,
                        kubernetes_version=version,
                        stage=stage,
                        manifest_location=example.manifest_location,
                        **example.detail.model_dump(),
                    )
                )
    return events


def test_each_subscriber_gets_exactly_what_its_filter_policy_allows(topic_arn: str) -> None:
    subscriptions = SnsSubscriptions(topic_arn)
    queues: dict[str, str] = {}
    for index, (title, event_filter) in enumerate(FILTER_EXAMPLES.items()):
        url, arn = make_queue(f"subscriber-{index}")
        subscriptions.subscribe(parse_endpoint(arn), event_filter)
        queues[title] = url
    everything_url, everything_arn = make_queue("everything")
    subscriptions.subscribe(parse_endpoint(everything_arn), EventFilter.of())

    published = matrix()
    publisher = SnsEventPublisher(topic_arn)
    for event in published:
        publisher.publish(event)

    assert set(EXPECTED) == set(FILTER_EXAMPLES)
    for title, url in queues.items():
        received = drain(url)
        got = sorted(m["body"]["event_id"] for m in received)
        want = sorted(e.event_id for e in published if EXPECTED[title](e))
        assert want, title  # every documented filter matches something in the matrix
        assert len(want) < len(published), title
        assert got == want, title
    everything = drain(everything_url)
    assert sorted(m["body"]["event_id"] for m in everything) == sorted(e.event_id for e in published)


def test_a_1_30_promoted_subscriber_gets_those_events_whole_and_nothing_else(topic_arn: str) -> None:
    url, arn = make_queue("team-a")
    SnsSubscriptions(topic_arn).subscribe(
        parse_endpoint(arn), EventFilter.of(channels=["1-30"], event_types=["release.promoted"])
    )
    published = matrix()
    publisher = SnsEventPublisher(topic_arn)
    for event in published:
        publisher.publish(event)

    received = drain(url)
    wanted = [e for e in published if e.channel == "1-30" and e.event_type is EventType.PROMOTED]
    assert len(wanted) == 2  # prod and dev
    # Raw delivery: the body is the event itself, and the attributes arrive as SQS message attributes.
    assert sorted((parse_event(m["body"]) for m in received), key=lambda e: e.stage or "") == sorted(
        wanted, key=lambda e: e.stage or ""
    )
    for message in received:
        assert message["attributes"] == {
            "event_type": "release.promoted",
            "channel": "1-30",
            "kubernetes_minor": "1.30",
            "stage": message["body"]["stage"],
        }


def test_events_without_a_stage_are_matched_by_stage_none(topic_arn: str) -> None:
    url, arn = make_queue("no-stage")
    SnsSubscriptions(topic_arn).subscribe(parse_endpoint(arn), EventFilter.of(stages=["none"]))
    published = matrix()
    publisher = SnsEventPublisher(topic_arn)
    for event in published:
        publisher.publish(event)
    got = sorted(m["body"]["event_id"] for m in drain(url))
    assert got == sorted(e.event_id for e in published if e.stage is None)
    assert got


def test_publishing_to_a_missing_topic_is_a_domain_error(topic_arn: str) -> None:
    missing = topic_arn.replace("eksd-adopt-release-events", "gone")
    event = make_event(EventType.PROMOTED, release_id="1-30-58", channel="1-30", number=58, stage="prod")
    with pytest.raises(EventPublishError, match=r"cannot publish release\.promoted of 1-30-58 to .*:gone"):
        SnsEventPublisher(missing).publish(event)


def test_publisher_sends_subject_and_json(topic_arn: str) -> None:
    # An email-json-like consumer sees the SNS envelope: Subject and Message (the event JSON).
    url, arn = make_queue("envelope")
    boto3.client("sns", region_name=REGION).subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn)
    event = example_event(EventType.PROMOTED)
    SnsEventPublisher(topic_arn).publish(event)
    (message,) = drain(url)
    assert message["body"]["Subject"] == "EKS-D 1-30-58 release.promoted (prod)"
    assert parse_event(message["body"]["Message"]) == event
    assert {k: v["Value"] for k, v in message["body"]["MessageAttributes"].items()} == event.message_attributes()
