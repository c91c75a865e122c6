"""Intake: the upstream SNS topic -> an encrypted SQS queue (DLQ) -> the intake function; the scheduled reconciler; alarms.

Timing of retries (see ``functions/intake_notification/handler.py``): a message whose manifest is not published yet
fails and comes back after the queue's visibility timeout (6x the function timeout, as AWS
recommends for Lambda event sources). The intake keeps retrying for ``not_found_retry`` and then
leaves the release to the reconciler; ``MAX_RECEIVE_COUNT`` receives are enough for that window, so
only messages that keep failing for other reasons (an invalid manifest, a refused sender, AWS
errors) reach the DLQ, whose depth raises an alarm.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from eksd_adopt.intake.settings import IntakeSettings
from infra.constants import METRICS_NAMESPACE, SERVICE_NAME
from infra.constructs.ledger import ReleaseLedger
from infra.function_factory import FunctionFactory

INTAKE_TIMEOUT = cdk.Duration.seconds(60)
RECONCILE_TIMEOUT = cdk.Duration.minutes(5)
VISIBILITY_TIMEOUT = cdk.Duration.seconds(6 * 60)
NOT_FOUND_RETRY = cdk.Duration.minutes(30)
# Receives within NOT_FOUND_RETRY (every VISIBILITY_TIMEOUT), plus two to give up cleanly.
MAX_RECEIVE_COUNT = NOT_FOUND_RETRY.to_seconds() // VISIBILITY_TIMEOUT.to_seconds() + 2


class Intake(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: FunctionFactory,
        ledger: ReleaseLedger,
        state_machine_arn: str,
        upstream_topic_arn: str,
        alarm_topic: sns.ITopic,
        tracked_channels: tuple[str, ...] = (),
        track_from_minor: str | None = None,
        reconcile_every: cdk.Duration = cdk.Duration.minutes(15),
        events_topic: sns.ITopic | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.upstream_topic_arn = upstream_topic_arn
        self.state_machine_arn = state_machine_arn
        self._build_queues()
        self._build_subscription()
        environment = IntakeSettings.to_env(
            ledger_table=ledger.table.table_name,
            state_machine_arn=state_machine_arn,
            upstream_topic_arn=upstream_topic_arn,
            tracked_channels=tracked_channels,
            track_from_minor=None if tracked_channels else track_from_minor,
            not_found_retry_seconds=int(NOT_FOUND_RETRY.to_seconds()),
            # A release the reconciler finds waits most of one interval for its notification.
            reconcile_grace_seconds=int(reconcile_every.to_seconds() * 2 // 3),
            events_topic_arn=events_topic.topic_arn if events_topic else None,
        )
        self.intake_function = self._build_intake(functions, environment)
        self.reconcile_function = self._build_reconciler(functions, environment, reconcile_every)
        for function in (self.intake_function, self.reconcile_function):
            ledger.grant_read_write(function)
            function.add_to_role_policy(
                iam.PolicyStatement(actions=["states:StartExecution"], resources=[state_machine_arn])
            )
            if events_topic is not None:
                events_topic.grant_publish(function)
        self.alarms = self._build_alarms(alarm_topic)

    def _build_queues(self) -> None:
        self.key = kms.Key(self, "Key", enable_key_rotation=True, description="eksd-adopt intake queue and its DLQ")
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=self.key,
            enforce_ssl=True,
            retention_period=cdk.Duration.days(14),
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=self.key,
            # Data keys are reused for this long: fewer KMS calls, and SNS's calls to the key too.
            data_key_reuse=cdk.Duration.hours(1),
            enforce_ssl=True,
            visibility_timeout=VISIBILITY_TIMEOUT,
            retention_period=cdk.Duration.days(4),
            dead_letter_queue=sqs.DeadLetterQueue(
                max_receive_count=int(MAX_RECEIVE_COUNT), queue=self.dead_letter_queue
            ),
        )

    def _build_subscription(self) -> None:
        sns_principal = iam.ServicePrincipal("sns.amazonaws.com")
        from_upstream = {"ArnEquals": {"aws:SourceArn": self.upstream_topic_arn}}
        # The queue admits the upstream topic only; the handler checks TopicArn in the envelope again.
        self.queue.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[sns_principal],
                actions=["sqs:SendMessage"],
                resources=[self.queue.queue_arn],
                conditions=from_upstream,
            )
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[sns_principal],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],  # in a key policy, "*" is this key
                conditions=from_upstream,
            )
        )
        # Declared directly (not Topic.add_subscription) to state the topic's region: the upstream
        # topic lives in us-east-1 whatever region this stack is deployed to.
        self.subscription = sns.Subscription(
            self,
            "UpstreamSubscription",
            topic=sns.Topic.from_topic_arn(self, "UpstreamTopic", self.upstream_topic_arn),
            protocol=sns.SubscriptionProtocol.SQS,
            endpoint=self.queue.queue_arn,
            raw_message_delivery=False,  # keep the envelope: the handler checks TopicArn
            region=self.upstream_topic_arn.split(":")[3],
        )

    def _build_intake(self, functions: FunctionFactory, environment: dict[str, str]) -> lambda_.Function:
        function = functions.create(
            self,
            "IntakeFunction",
            handler_dir="intake_notification",
            description="Turn EKS-D release announcements into one adoption per release",
            environment=environment,
            timeout=INTAKE_TIMEOUT,
        )
        function.add_event_source(
            sources.SqsEventSource(
                self.queue,
                batch_size=10,
                max_batching_window=cdk.Duration.seconds(5),
                report_batch_item_failures=True,
            )
        )
        return function

    def _build_reconciler(
        self, functions: FunctionFactory, environment: dict[str, str], every: cdk.Duration
    ) -> lambda_.Function:
        function = functions.create(
            self,
            "ReconcileFunction",
            handler_dir="intake_reconcile",
            description="Start every EKS-D release the channel files name that the ledger lacks",
            environment=environment,
            # No reserved concurrency: overlapping runs are safe (the ledger's conditional writes), and
            # reserving capacity fails to deploy in accounts with the minimum concurrency quota.
            timeout=RECONCILE_TIMEOUT,
        )
        self.schedule = events.Rule(
            self,
            "Schedule",
            description="Reconcile EKS-D release channels with the ledger",
            schedule=events.Schedule.rate(every),
            targets=[targets.LambdaFunction(function, retry_attempts=0)],  # the next run is the retry
        )
        return function

    def _build_alarms(self, topic: sns.ITopic) -> dict[str, cloudwatch.Alarm]:
        def service_metric(name: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=METRICS_NAMESPACE,
                metric_name=name,
                dimensions_map={"service": SERVICE_NAME},
                statistic="Sum",
                period=cdk.Duration.minutes(15),
            )

        alarms = {
            "DeadLetters": (
                self.dead_letter_queue.metric_approximate_number_of_messages_visible(
                    period=cdk.Duration.minutes(5), statistic="Maximum"
                ),
                "Intake messages failed repeatedly and are in the DLQ (invalid manifest, refused sender, AWS errors)",
            ),
            "InvalidManifests": (
                service_metric("InvalidManifests"),
                "An announced EKS-D release has an invalid manifest; its problems are in the ledger",
            ),
            "MissedNotifications": (
                service_metric("MissedNotifications"),
                "The reconciler found EKS-D releases that no notification announced",
            ),
            "ReconcilerErrors": (
                self.reconcile_function.metric_errors(period=cdk.Duration.hours(1), statistic="Sum"),
                "The reconciler failed to read a channel or start a release",
            ),
        }
        created: dict[str, cloudwatch.Alarm] = {}
        for name, (metric, description) in alarms.items():
            alarm = metric.create_alarm(
                self,
                f"{name}Alarm",
                alarm_description=description,
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            alarm.add_alarm_action(cw_actions.SnsAction(topic))
            created[name] = alarm
        return created
