"""``ReleaseSubscription``: a team's subscription to eksd-adopt release events, for use in that team's own CDK app.

The filter is given as typed choices and validated by the same code as ``eksd-adopt subscribe``
(an unknown event type or a malformed channel fails synthesis, naming the valid values).
"""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from eksd_adopt.events.filters import EventFilter
from eksd_adopt.events.model import EventType


class ReleaseSubscription(Construct):
    """Release events delivered to a new SQS queue (DLQ, KMS, only this topic may send) or to a given Lambda.

    ``.queue`` (None when delivering to a Lambda), ``.dead_letter_queue``, ``.key``, ``.filter``
    (the validated choices) and ``.filter_policy`` (the SNS policy they make; None means everything).
    SQS deliveries are raw: the message body is the event JSON (see docs/events.md).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        topic: sns.ITopic | str,
        channels: Sequence[str] = (),
        event_types: Sequence[EventType | str] = (),
        stages: Sequence[str] = (),
        kubernetes_minors: Sequence[str] = (),
        function: lambda_.IFunction | None = None,
        max_receive_count: int = 5,
        retention: cdk.Duration | None = None,
        visibility_timeout: cdk.Duration | None = None,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        # Let only SNS, and only for this subscription's topic, use the queue key (whatever the app's flags).
        self.node.set_context("@aws-cdk/aws-sns-subscriptions:restrictSqsDescryption", True)
        self.filter = EventFilter.of(
            channels=channels, event_types=event_types, stages=stages, kubernetes_minors=kubernetes_minors
        )
        self.filter_policy = self.filter.policy()
        self.topic = topic if not isinstance(topic, str) else sns.Topic.from_topic_arn(self, "Topic", topic)
        self.key = kms.Key(
            self,
            "Key",
            description=f"eksd-adopt release events for {self.node.path}",
            enable_key_rotation=True,
            removal_policy=removal_policy,
        )
        retention = retention or cdk.Duration.days(14)
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=self.key,
            enforce_ssl=True,
            retention_period=retention,
            removal_policy=removal_policy,
        )
        cdk.Validations.of(self.dead_letter_queue).acknowledge(
            cdk.Acknowledgment(
                id="AwsSolutions::AwsSolutions-SQS3",
                reason="This is the dead-letter queue of the subscription; it has none of its own.",
            )
        )
        self.queue: sqs.Queue | None = None
        sns_filter = self._sns_filter_policy()
        if function is None:
            self.queue = sqs.Queue(
                self,
                "Queue",
                encryption=sqs.QueueEncryption.KMS,
                encryption_master_key=self.key,
                enforce_ssl=True,
                retention_period=retention,
                visibility_timeout=visibility_timeout,
                dead_letter_queue=sqs.DeadLetterQueue(
                    max_receive_count=max_receive_count, queue=self.dead_letter_queue
                ),
                removal_policy=removal_policy,
            )
            subscription: sns.ITopicSubscription = subscriptions.SqsSubscription(
                self.queue,
                raw_message_delivery=True,
                filter_policy=sns_filter,
                # What SNS itself cannot deliver (e.g. the queue key refuses it) lands here, not nowhere.
                dead_letter_queue=self.dead_letter_queue,
            )
        else:
            subscription = subscriptions.LambdaSubscription(
                function, filter_policy=sns_filter, dead_letter_queue=self.dead_letter_queue
            )
        self.topic.add_subscription(subscription)

    def _sns_filter_policy(self) -> dict[str, sns.SubscriptionFilter] | None:
        if self.filter_policy is None:
            return None
        return {
            attribute: sns.SubscriptionFilter.string_filter(allowlist=values)
            for attribute, values in self.filter_policy.items()
        }
