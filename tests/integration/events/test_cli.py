"""``eksd-adopt subscribe / subscriptions / unsubscribe`` against moto: filters validated, exit codes, real delivery."""

from __future__ import annotations

import json

import boto3
import pytest
from typer.testing import CliRunner

from eksd_adopt.cli.main import app
from eksd_adopt.events import EventType, make_event
from eksd_adopt.events.sns import SnsEventPublisher
from tests.integration.events.conftest import REGION, drain, make_queue

runner = CliRunner()


@pytest.fixture
def env(topic_arn: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("EKSD_ADOPT_EVENTS_TOPIC_ARN", topic_arn)
    return topic_arn


def subscriptions_json() -> list[dict[str, object]]:
    result = runner.invoke(app, ["subscriptions", "--json"])
    assert result.exit_code == 0, result.output
    listed: list[dict[str, object]] = json.loads(result.stdout)
    return listed


def test_subscribe_list_deliver_unsubscribe(env: str) -> None:
    url, queue_arn = make_queue("team-a")
    result = runner.invoke(
        app, ["subscribe", "--endpoint", queue_arn, "--channel", "1-30", "--event", "promoted", "--stage", "prod"]
    )
    assert result.exit_code == 0, result.output
    assert f"subscribed {queue_arn}: {env}:" in result.output
    policy = {"channel": ["1-30"], "event_type": ["release.promoted"], "stage": ["prod"]}
    assert f"filter policy: {json.dumps(policy, sort_keys=True)}" in result.output

    (listed,) = subscriptions_json()
    assert listed["protocol"] == "sqs" and listed["endpoint"] == queue_arn
    assert listed["filter_policy"] == policy
    arn = str(listed["arn"])
    attributes = boto3.client("sns", region_name=REGION).get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
    assert attributes["RawMessageDelivery"] == "true"
    assert attributes["FilterPolicyScope"] == "MessageAttributes"

    publisher = SnsEventPublisher(env)
    common = {"kubernetes_version": "v1.30.11"}
    wanted = make_event(EventType.PROMOTED, release_id="1-30-58", channel="1-30", number=58, stage="prod", **common)
    for event in (
        wanted,
        make_event(EventType.PROMOTED, release_id="1-30-58", channel="1-30", number=58, stage="dev", **common),
        make_event(EventType.PROMOTED, release_id="1-31-9", channel="1-31", number=9, stage="prod"),
        make_event(EventType.FAILED, release_id="1-30-58", channel="1-30", number=58, stage="prod", error="X"),
    ):
        publisher.publish(event)
    assert [m["body"]["event_id"] for m in drain(url)] == [wanted.event_id]

    table = runner.invoke(app, ["subscriptions"])
    assert table.exit_code == 0, table.output
    assert table.output.splitlines()[:3] == [
        arn,
        f"  sqs {queue_arn}",
        f"  filter policy: {json.dumps(policy, sort_keys=True)}",
    ]

    gone = runner.invoke(app, ["unsubscribe", arn])
    assert gone.exit_code == 0, gone.output
    assert subscriptions_json() == []
    again = runner.invoke(app, ["unsubscribe", arn])
    assert again.exit_code == 1
    assert "no subscription" in again.output


def test_unknown_event_type_exits_2_listing_the_valid_ones_and_subscribes_nothing(env: str) -> None:
    _, queue_arn = make_queue("team-b")
    result = runner.invoke(app, ["subscribe", "--endpoint", queue_arn, "--event", "release.shipped"])
    assert result.exit_code == 2
    assert "unknown event type 'release.shipped'" in result.output
    assert "release.promoted" in result.output and "notification.missed" in result.output
    assert subscriptions_json() == []


def test_malformed_channel_exits_2(env: str) -> None:
    _, queue_arn = make_queue("team-c")
    result = runner.invoke(app, ["subscribe", "--endpoint", queue_arn, "--channel", "1.30"])
    assert result.exit_code == 2
    assert "malformed channel '1.30'" in result.output and "1-30" in result.output
    assert subscriptions_json() == []


@pytest.mark.parametrize(
    ("endpoint", "message"),
    [("http://hooks.example.com/x", "plain http is refused"), ("my-queue", "is not an SQS queue ARN")],
)
def test_bad_endpoint_exits_2(env: str, endpoint: str, message: str) -> None:
    result = runner.invoke(app, ["subscribe", "--endpoint", endpoint])
    assert result.exit_code == 2
    assert message in result.output
    assert subscriptions_json() == []


def test_email_subscription_keeps_the_policy(env: str) -> None:
    result = runner.invoke(app, ["subscribe", "--endpoint", "platform@example.com", "--event", "failed", "--json"])
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    assert created["protocol"] == "email"
    assert created["filter_policy"] == {"event_type": ["release.failed"]}


def test_topic_is_required_and_checked(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EKSD_ADOPT_EVENTS_TOPIC_ARN", raising=False)
    result = runner.invoke(app, ["subscriptions"])
    assert result.exit_code == 2
    assert "--topic-arn or EKSD_ADOPT_EVENTS_TOPIC_ARN" in result.output
    result = runner.invoke(app, ["subscriptions", "--topic-arn", "arn:aws:sqs:eu-west-1:123456789012:q"])
    assert result.exit_code == 2
    assert "not an SNS topic ARN" in result.output


def test_unsubscribe_refuses_a_subscription_of_another_topic(env: str) -> None:
    other = "arn:aws:sns:eu-west-1:123456789012:other:0b6f9c3e-1111-2222-3333-444455556666"
    result = runner.invoke(app, ["unsubscribe", other, "--topic-arn", env])
    assert result.exit_code == 2
    assert f"is not a subscription of {env}" in " ".join(result.output.split())
    result = runner.invoke(app, ["unsubscribe", "not-an-arn"])
    assert result.exit_code == 2


def test_subscribing_to_a_missing_topic_exits_1(env: str) -> None:
    _, queue_arn = make_queue("team-d")
    missing = env.replace("eksd-adopt-release-events", "gone")
    result = runner.invoke(app, ["subscribe", "--endpoint", queue_arn, "--topic-arn", missing])
    assert result.exit_code == 1
    assert "cannot subscribe" in result.output
