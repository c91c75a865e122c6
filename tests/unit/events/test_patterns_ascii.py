"""Subscription filters and endpoints: patterns are ASCII-only and matched whole (no trailing newline, no look-alikes)."""

from __future__ import annotations

import pytest

from eksd_adopt.events.errors import EventFilterError, SubscriptionEndpointError
from eksd_adopt.events.filters import EventFilter
from eksd_adopt.events.subscriptions import Protocol, parse_endpoint, topic_region


@pytest.mark.reliability(
    area="events",
    fault="filter values ending in a newline or with non-ASCII digits ('1-30\\n', '1.3\\u0660', 'prod\\n')",
    expected="refused: the model's patterns matched whole, ASCII-only",
)
@pytest.mark.parametrize(
    "choice",
    [
        {"channels": ["1-30\n"]},
        {"channels": ["1-3\u0660"]},
        {"kubernetes_minors": ["1.30\n"]},
        {"kubernetes_minors": ["1.3\u0660"]},
        {"stages": ["prod\n"]},
    ],
)
def test_filter_values_are_matched_whole_and_ascii(choice: dict[str, list[str]]) -> None:
    with pytest.raises(EventFilterError, match="malformed"):
        EventFilter.of(**choice)


@pytest.mark.parametrize(
    "value",
    [
        "us\u00e9r@example.com",  # a non-ASCII local part
        "user@ex\u00e4mple.com",
        "https://hooks.example.com\t.evil.example/x",  # urlsplit would drop the tab from the host
        "https://hooks.example.com:99999/x",
    ],
)
def test_endpoints_with_non_ascii_or_hidden_characters_are_refused(value: str) -> None:
    with pytest.raises(SubscriptionEndpointError):
        parse_endpoint(value)


def test_an_ascii_email_and_https_url_are_accepted() -> None:
    assert parse_endpoint("team+eksd@example.co.uk").protocol is Protocol.EMAIL
    assert parse_endpoint("https://hooks.example.com/eksd?x=1").protocol is Protocol.HTTPS


def test_a_topic_arn_ending_in_a_newline_is_not_one() -> None:
    with pytest.raises(SubscriptionEndpointError, match="not an SNS topic ARN"):
        topic_region("arn:aws:sns:eu-west-1:111122223333:topic\n")
