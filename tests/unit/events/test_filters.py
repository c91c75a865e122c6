"""Subscription filters and endpoints: validated choices, the SNS filter policy they make, refused input."""

from __future__ import annotations

import pytest

from eksd_adopt.events import EventFilter, EventFilterError, EventType, SubscriptionEndpointError
from eksd_adopt.events.subscriptions import Protocol, parse_endpoint, topic_region


def test_policy_lists_only_the_attributes_filtered_on() -> None:
    chosen = EventFilter.of(channels=["1-30"], event_types=["release.promoted"])
    assert chosen.policy() == {"event_type": ["release.promoted"], "channel": ["1-30"]}


def test_every_attribute_and_several_values() -> None:
    chosen = EventFilter.of(
        channels=["1-30", "1-31"],
        event_types=["promoted", "release.rolled_back", "missed"],
        stages=["prod", "none"],
        kubernetes_minors=["1.30"],
    )
    assert chosen.policy() == {
        "event_type": ["release.promoted", "release.rolled_back", "notification.missed"],
        "channel": ["1-30", "1-31"],
        "kubernetes_minor": ["1.30"],
        "stage": ["prod", "none"],
    }
    assert chosen.combinations() == 12


def test_no_choice_means_no_policy() -> None:
    assert EventFilter.of().policy() is None


def test_duplicates_are_removed_keeping_order() -> None:
    chosen = EventFilter.of(channels=["1-31", "1-30", "1-31"], event_types=["failed", "release.failed"])
    assert chosen.channels == ("1-31", "1-30")
    assert chosen.event_types == (EventType.FAILED,)


def test_unknown_event_type_is_refused_listing_every_valid_one() -> None:
    with pytest.raises(EventFilterError) as caught:
        EventFilter.of(event_types=["release.shipped"])
    message = str(caught.value)
    assert "unknown event type 'release.shipped'" in message
    for event_type in EventType:
        assert event_type.value in message


@pytest.mark.parametrize("channel", ["1.30", "v1-30", "1-30-58", "01-30", "", "1-"])
def test_malformed_channel_is_refused_with_the_expected_form(channel: str) -> None:
    with pytest.raises(EventFilterError, match=r"malformed channel .*<major>-<minor>, e\.g\. 1-30"):
        EventFilter.of(channels=[channel])


def test_every_problem_is_named_at_once() -> None:
    with pytest.raises(EventFilterError) as caught:
        EventFilter.of(channels=["1.30"], event_types=["nope"], stages=["Prod"], kubernetes_minors=["1-30"])
    message = str(caught.value)
    for part in ("'nope'", "'1.30'", "'Prod'", "'1-30'"):
        assert part in message


def test_more_than_sns_accepts_is_refused() -> None:
    channels = [f"1-{n}" for n in range(20, 40)]
    with pytest.raises(EventFilterError, match="at most 150"):
        EventFilter.of(channels=channels, event_types=["promoted", "failed"], stages=["prod", "dev", "staging", "qa"])
    assert EventFilter.of(channels=channels, event_types=["promoted", "failed"]).combinations() == 40


@pytest.mark.parametrize(
    ("value", "protocol"),
    [
        ("arn:aws:sqs:eu-west-1:444455556666:releases", Protocol.SQS),
        ("arn:aws:sqs:eu-west-1:444455556666:releases.fifo", Protocol.SQS),
        ("arn:aws:lambda:eu-west-1:444455556666:function:on-release", Protocol.LAMBDA),
        ("arn:aws:lambda:eu-west-1:444455556666:function:on-release:live", Protocol.LAMBDA),
        ("platform@example.com", Protocol.EMAIL),
        ("https://hooks.example.com/eksd", Protocol.HTTPS),
    ],
)
def test_endpoint_protocol_follows_its_form(value: str, protocol: Protocol) -> None:
    endpoint = parse_endpoint(value)
    assert endpoint.protocol is protocol
    assert endpoint.raw_delivery is (protocol is Protocol.SQS)


def test_plain_http_is_refused() -> None:
    with pytest.raises(SubscriptionEndpointError, match="plain http is refused"):
        parse_endpoint("http://hooks.example.com/eksd")


@pytest.mark.parametrize(
    "value", ["arn:aws:sns:eu-west-1:444455556666:t", "queue", "https://", "arn:aws:sqs:eu-west-1:4444:q"]
)
def test_other_endpoints_are_refused_naming_what_is_accepted(value: str) -> None:
    with pytest.raises(SubscriptionEndpointError, match=r"is not an SQS queue ARN|needs a host"):
        parse_endpoint(value)


def test_topic_region_comes_from_the_arn() -> None:
    assert topic_region("arn:aws:sns:eu-west-1:111122223333:eksd-adopt-release-events") == "eu-west-1"
    with pytest.raises(SubscriptionEndpointError, match="not an SNS topic ARN"):
        topic_region("arn:aws:sqs:eu-west-1:111122223333:q")
