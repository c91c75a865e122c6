"""SNS data access paths moto cannot show: pending confirmations, a subscriber account that may not list the topic."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from botocore.stub import Stubber

from eksd_adopt.events import EventFilter, SubscriptionError, SubscriptionNotFoundError
from eksd_adopt.events.sns import SnsSubscriptions
from eksd_adopt.events.subscriptions import parse_endpoint

TOPIC = "arn:aws:sns:eu-west-1:111122223333:eksd-adopt-release-events"
MINE = f"{TOPIC}:0b6f9c3e-1111-2222-3333-444455556666"


@pytest.fixture
def sns() -> Iterator[Stubber]:
    client = boto3.client("sns", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        yield stubber
    stubber.assert_no_pending_responses()


def test_https_subscription_reports_pending_confirmation_with_its_policy(sns: Stubber) -> None:
    sns.add_response(
        "subscribe",
        {"SubscriptionArn": "pending confirmation"},
        {
            "TopicArn": TOPIC,
            "Protocol": "https",
            "Endpoint": "https://hooks.example.com/eksd",
            "Attributes": {
                "FilterPolicy": '{"event_type": ["release.failed"]}',
                "FilterPolicyScope": "MessageAttributes",
            },
            "ReturnSubscriptionArn": True,
        },
    )
    created = SnsSubscriptions(TOPIC, client=sns.client).subscribe(
        parse_endpoint("https://hooks.example.com/eksd"), EventFilter.of(event_types=["failed"])
    )
    assert created.pending
    assert created.filter_policy == {"event_type": ["release.failed"]}


def test_a_subscriber_account_lists_its_own_subscriptions_when_it_may_not_list_the_topic(sns: Stubber) -> None:
    sns.add_client_error("list_subscriptions_by_topic", service_error_code="AuthorizationError", http_status_code=403)
    sns.add_response(
        "list_subscriptions",
        {
            "Subscriptions": [
                {
                    "SubscriptionArn": MINE,
                    "Owner": "444455556666",
                    "Protocol": "sqs",
                    "Endpoint": "q",
                    "TopicArn": TOPIC,
                },
                {
                    "SubscriptionArn": "arn:aws:sns:eu-west-1:999:other:1",
                    "Protocol": "sqs",
                    "Endpoint": "q",
                    "TopicArn": "arn:aws:sns:eu-west-1:999:other",
                },
            ]
        },
    )
    sns.add_response("get_subscription_attributes", {"Attributes": {"FilterPolicy": '{"channel": ["1-30"]}'}})
    (only,) = SnsSubscriptions(TOPIC, client=sns.client).list_subscriptions()
    assert (only.arn, only.owner, only.filter_policy) == (MINE, "444455556666", {"channel": ["1-30"]})


def test_other_list_errors_are_domain_errors(sns: Stubber) -> None:
    sns.add_client_error("list_subscriptions_by_topic", service_error_code="NotFound", http_status_code=404)
    with pytest.raises(SubscriptionError, match="cannot list subscriptions"):
        SnsSubscriptions(TOPIC, client=sns.client).list_subscriptions()


def test_unsubscribe_of_an_unknown_subscription_is_not_found(sns: Stubber) -> None:
    sns.add_client_error("get_subscription_attributes", service_error_code="NotFound", http_status_code=404)
    with pytest.raises(SubscriptionNotFoundError, match=MINE):
        SnsSubscriptions(TOPIC, client=sns.client).unsubscribe(MINE)
