"""Release-events topic (KMS, subscribe-only policy for configured accounts/organisation) and ReleaseSubscription."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Match, Template
from cdk_nag import AwsSolutionsChecks
from pydantic import ValidationError

from eksd_adopt.events import EventFilterError
from infra.constructs.events import SUBSCRIBE_PROTOCOLS, ReleaseEvents
from infra.constructs.events_subscription import ReleaseSubscription
from infra.settings import DeploymentSettings
from tests.infra.conftest import resources_of

TOPIC_ARN = "arn:aws:sns:eu-west-1:111122223333:eksd-adopt-release-events"
ENV = cdk.Environment(account="444455556666", region="eu-west-1")


def synth(build: Any, env: cdk.Environment = ENV) -> dict[str, Any]:
    """One small stack, synthesized with cdk-nag AwsSolutions on (synthesis fails on any violation)."""
    app = cdk.App()
    stack = cdk.Stack(app, "Team", env=env)
    build(stack)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(verbose=True))
    assembly = app.synth()
    template: dict[str, Any] = assembly.get_stack_by_name("Team").template
    return template


def statements(template: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for resource in resources_of(template, kind).values():
        found.extend(resource["Properties"]["PolicyDocument"]["Statement"])
    return found


# ----- the service's stack --------------------------------------------------------------------------
def test_stack_has_the_encrypted_release_events_topic(template: Template, template_json: dict[str, Any]) -> None:
    template.has_resource_properties(
        "AWS::SNS::Topic",
        {
            "TopicName": "eksd-adopt-release-events",
            "KmsMasterKeyId": {"Fn::GetAtt": [Match.string_like_regexp("^ReleaseEventsKey"), "Arn"]},
        },
    )
    keys = {k: v for k, v in resources_of(template_json, "AWS::KMS::Key").items() if k.startswith("ReleaseEventsKey")}
    assert [v["Properties"]["EnableKeyRotation"] for v in keys.values()] == [True]
    outputs = template_json["Outputs"]
    assert any(k.startswith("ReleaseEventsTopicArn") for k in outputs)


def test_without_configured_subscribers_nobody_else_is_admitted(template_json: dict[str, Any]) -> None:
    policies = {k: v for k, v in resources_of(template_json, "AWS::SNS::TopicPolicy").items() if "ReleaseEvents" in k}
    (policy,) = policies.values()
    allows = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert allows == []


def test_publishers_get_exact_actions_on_the_topic_and_its_key(template_json: dict[str, Any]) -> None:
    publish_grants = []
    for statement in statements(template_json, "AWS::IAM::Policy"):
        text = json.dumps(statement)
        if "ReleaseEventsKey" in text or "ReleaseEventsTopic" in text:
            publish_grants.append(statement)
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert set(actions) <= {"sns:Publish", "kms:Decrypt", "kms:GenerateDataKey"}, statement
    assert publish_grants, "some function must be allowed to publish release events"


# ----- the topic's policy, configured -----------------------------------------------------------------
def test_configured_accounts_and_organisation_may_only_subscribe() -> None:
    def build(stack: cdk.Stack) -> None:
        events = ReleaseEvents(
            stack,
            "ReleaseEvents",
            subscriber_accounts=("777788889999", "222233334444"),
            subscriber_org_id="o-abc123def4",
        )
        events.grant_publish(iam.Role(stack, "Publisher", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com")))

    template = synth(build)
    allows = [s for s in statements(template, "AWS::SNS::TopicPolicy") if s["Effect"] == "Allow"]
    assert {s["Sid"] for s in allows} == {"SubscriberAccountsMaySubscribe", "SubscriberOrganisationMaySubscribe"}
    for statement in allows:
        assert statement["Action"] == "sns:Subscribe"
        assert set(statement["Resource"]) == {"Ref"}  # the topic itself
        assert statement["Condition"]["StringEquals"]["sns:Protocol"] == list(SUBSCRIBE_PROTOCOLS)
    accounts = next(s for s in allows if s["Sid"] == "SubscriberAccountsMaySubscribe")
    principals = json.dumps(accounts["Principal"])
    assert ":iam::777788889999:root" in principals and ":iam::222233334444:root" in principals
    org = next(s for s in allows if s["Sid"] == "SubscriberOrganisationMaySubscribe")
    assert org["Principal"] == {"AWS": "*"}
    assert org["Condition"]["StringEquals"]["aws:PrincipalOrgID"] == "o-abc123def4"
    assert "http" not in SUBSCRIBE_PROTOCOLS and "sms" not in SUBSCRIBE_PROTOCOLS
    # The deny for non-TLS publishing stays.
    denies = [s for s in statements(template, "AWS::SNS::TopicPolicy") if s["Effect"] == "Deny"]
    assert denies and denies[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    # grant_publish: exact KMS actions, never GenerateDataKey*.
    (role_statements,) = [
        r["Properties"]["PolicyDocument"]["Statement"] for r in resources_of(template, "AWS::IAM::Policy").values()
    ]
    assert sorted(json.dumps(s["Action"]) for s in role_statements) == sorted(
        [json.dumps("sns:Publish"), json.dumps(["kms:Decrypt", "kms:GenerateDataKey"])]
    )


def test_settings_read_subscribers_from_context_and_refuse_bad_ones() -> None:
    app = cdk.App(context={"subscriberAccounts": "777788889999, 222233334444", "subscriberOrgId": "o-abc123def4"})
    settings = DeploymentSettings.from_context(app.node)
    assert settings.subscriber_accounts == ("777788889999", "222233334444")
    assert settings.subscriber_org_id == "o-abc123def4"
    with pytest.raises(ValidationError, match="12-digit AWS account ids, not '1234'"):
        DeploymentSettings(subscriber_accounts=("1234",))
    with pytest.raises(ValidationError, match="subscriber_org_id"):
        DeploymentSettings(subscriber_org_id="org-1")


# ----- ReleaseSubscription, in another team's app ------------------------------------------------------
def test_queue_subscription_with_dlq_kms_raw_delivery_and_filter_policy() -> None:
    built: dict[str, ReleaseSubscription] = {}

    def build(stack: cdk.Stack) -> None:
        built["s"] = ReleaseSubscription(
            stack, "Releases", topic=TOPIC_ARN, channels=["1-30"], event_types=["release.promoted"], stages=["prod"]
        )

    template = synth(build)
    assert built["s"].filter_policy == {"event_type": ["release.promoted"], "channel": ["1-30"], "stage": ["prod"]}
    queues = resources_of(template, "AWS::SQS::Queue")
    assert len(queues) == 2
    main = next(k for k in queues if k.startswith("ReleasesQueue"))
    dlq = next(k for k in queues if k.startswith("ReleasesDeadLetterQueue"))
    (key_id,) = resources_of(template, "AWS::KMS::Key")
    for queue in queues.values():
        assert queue["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert queues[main]["Properties"]["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dlq, "Arn"]},
        "maxReceiveCount": 5,
    }
    (subscription,) = resources_of(template, "AWS::SNS::Subscription").values()
    props = subscription["Properties"]
    assert props["Protocol"] == "sqs"
    assert props["TopicArn"] == TOPIC_ARN
    assert props["RawMessageDelivery"] is True
    assert props["FilterPolicy"] == {"event_type": ["release.promoted"], "channel": ["1-30"], "stage": ["prod"]}
    assert props["Endpoint"] == {"Fn::GetAtt": [main, "Arn"]}
    assert props["RedrivePolicy"] == {"deadLetterTargetArn": {"Fn::GetAtt": [dlq, "Arn"]}}
    # Only SNS, and only for this topic, may send to the queues.
    allows = [s for s in statements(template, "AWS::SQS::QueuePolicy") if s["Effect"] == "Allow"]
    assert allows
    for statement in allows:
        assert statement["Principal"] == {"Service": "sns.amazonaws.com"}
        assert statement["Action"] == "sqs:SendMessage"
        assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": TOPIC_ARN}}
    # The key lets SNS use it only on behalf of this topic.
    (key,) = resources_of(template, "AWS::KMS::Key").values()
    assert key["Properties"]["EnableKeyRotation"] is True
    sns_use = [
        s for s in key["Properties"]["KeyPolicy"]["Statement"] if s.get("Principal") == {"Service": "sns.amazonaws.com"}
    ]
    assert sns_use and all(s["Condition"] == {"ArnEquals": {"aws:SourceArn": TOPIC_ARN}} for s in sns_use)


def test_no_choice_subscribes_to_everything() -> None:
    built: dict[str, ReleaseSubscription] = {}
    template = synth(lambda stack: built.setdefault("s", ReleaseSubscription(stack, "All", topic=TOPIC_ARN)))
    assert built["s"].filter_policy is None
    (subscription,) = resources_of(template, "AWS::SNS::Subscription").values()
    assert "FilterPolicy" not in subscription["Properties"]


def test_lambda_subscription_with_filter_policy() -> None:
    def build(stack: cdk.Stack) -> None:
        function = lambda_.Function.from_function_arn(
            stack, "OnRelease", "arn:aws:lambda:eu-west-1:444455556666:function:on-release"
        )
        ReleaseSubscription(
            stack, "Releases", topic=TOPIC_ARN, event_types=["failed"], kubernetes_minors=["1.31"], function=function
        )

    template = synth(build)
    (subscription,) = resources_of(template, "AWS::SNS::Subscription").values()
    assert subscription["Properties"]["Protocol"] == "lambda"
    assert subscription["Properties"]["Endpoint"] == "arn:aws:lambda:eu-west-1:444455556666:function:on-release"
    assert subscription["Properties"]["FilterPolicy"] == {
        "event_type": ["release.failed"],
        "kubernetes_minor": ["1.31"],
    }
    (only_queue,) = resources_of(template, "AWS::SQS::Queue")
    assert only_queue.startswith("ReleasesDeadLetterQueue")
    (permission,) = resources_of(template, "AWS::Lambda::Permission").values()
    assert permission["Properties"]["Principal"] == "sns.amazonaws.com"
    assert permission["Properties"]["SourceArn"] == TOPIC_ARN


def test_a_topic_in_another_region_is_subscribed_there() -> None:
    template = synth(
        lambda stack: ReleaseSubscription(stack, "Releases", topic=TOPIC_ARN, channels=["1-31"]),
        env=cdk.Environment(account="444455556666", region="eu-central-1"),
    )
    (subscription,) = resources_of(template, "AWS::SNS::Subscription").values()
    assert subscription["Properties"]["Region"] == "eu-west-1"


@pytest.mark.parametrize(
    ("choices", "message"),
    [
        ({"event_types": ["release.shipped"]}, "valid event types: release.detected"),
        ({"channels": ["1.30"]}, "malformed channel '1.30'"),
    ],
)
def test_bad_choices_fail_synthesis_naming_the_valid_values(choices: dict[str, list[str]], message: str) -> None:
    app = cdk.App()
    stack = cdk.Stack(app, "Team", env=ENV)
    with pytest.raises(EventFilterError, match=message):
        ReleaseSubscription(stack, "Releases", topic=TOPIC_ARN, **choices)  # type: ignore[arg-type]
