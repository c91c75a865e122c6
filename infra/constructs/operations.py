"""Operations: the adoption alarms (failed adoptions, approvals waiting too long), the approval watch and the dashboard.

The intake's own alarms (DLQ depth, invalid manifests, missed notifications, reconciler errors) live
with the intake (``infra/constructs/intake.py``); this construct adds the workflow's and shows them
all on one dashboard. Every alarm notifies the operators' topic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.constants import METRICS_NAMESPACE, SERVICE_NAME
from infra.constructs.approvals import APPROVAL_WATCH_EVERY
from infra.function_factory import FunctionFactory

DASHBOARD_NAME = "eksd-adopt"
WATCH_EVERY = APPROVAL_WATCH_EVERY  # the dashboard's period for the watch's metrics
# The alarm looks at the largest age over an hour (four watch runs): one late run is not an outage.
PENDING_ALARM_PERIOD = cdk.Duration.hours(1)
THROUGHPUT_PERIOD = cdk.Duration.minutes(5)


def service_metric(name: str, statistic: str = "Sum", period: cdk.Duration = THROUGHPUT_PERIOD) -> cloudwatch.Metric:
    """A metric the handlers publish with Powertools (namespace EksdAdopt, dimension service=eksd-adopt)."""
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": SERVICE_NAME},
        statistic=statistic,
        period=period,
    )


class Operations(Construct):
    """Alarms to ``alarm_topic``; a dashboard of adoptions by status, mirror throughput and durations."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: FunctionFactory,
        alarm_topic: sns.ITopic,
        state_machine: sfn.IStateMachine,
        approval_watch: lambda_.IFunction | None = None,
        charted_functions: Mapping[str, lambda_.IFunction] | None = None,
        other_alarms: Sequence[cloudwatch.IAlarm] = (),
        approval_pending_threshold: cdk.Duration = cdk.Duration.days(2),
    ) -> None:
        super().__init__(scope, construct_id)
        self.state_machine = state_machine
        self.alarm_topic = alarm_topic
        self.approval_pending_threshold = approval_pending_threshold
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        self._build_failed_adoptions_alarm()
        if approval_watch is not None:  # the approvals construct's watch publishes what this alarm reads
            self._build_pending_approvals_alarm()
        self.dashboard = self._build_dashboard(dict(charted_functions or {}), [*self.alarms.values(), *other_alarms])

    # --- alarms ---------------------------------------------------------------------------------

    def _alarm(self, name: str, alarm: cloudwatch.Alarm) -> cloudwatch.Alarm:
        alarm.add_alarm_action(cw_actions.SnsAction(self.alarm_topic))
        self.alarms[name] = alarm
        return alarm

    def _build_failed_adoptions_alarm(self) -> None:
        period = cdk.Duration.minutes(5)
        failures = cloudwatch.MathExpression(
            expression="failed + timedOut + aborted",
            using_metrics={
                "failed": self.state_machine.metric_failed(period=period, statistic="Sum"),
                "timedOut": self.state_machine.metric_timed_out(period=period, statistic="Sum"),
                "aborted": self.state_machine.metric_aborted(period=period, statistic="Sum"),
            },
            label="Adoptions failed, timed out or aborted",
            period=period,
        )
        self._alarm(
            "FailedAdoptions",
            failures.create_alarm(
                self,
                "FailedAdoptionsAlarm",
                alarm_description=(
                    "An adoption execution failed, timed out or was aborted (rejections and expired gates "
                    "count too); the ledger holds the cause: eksd-adopt status <release>"
                ),
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
        )

    def _build_pending_approvals_alarm(self) -> None:
        oldest = service_metric("OldestPendingApprovalSeconds", "Maximum", PENDING_ALARM_PERIOD)
        self._alarm(
            "ApprovalsPendingTooLong",
            oldest.create_alarm(
                self,
                "ApprovalsPendingTooLongAlarm",
                alarm_description=(
                    f"An approval gate has been open longer than {self.approval_pending_threshold.to_human_string()}, "
                    "or the approval watch stopped reporting; see eksd-adopt approvals list"
                ),
                threshold=self.approval_pending_threshold.to_seconds(),
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                # The watch publishes 0 when nothing waits: no data means the watch itself is broken.
                treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
            ),
        )

    # --- dashboard ------------------------------------------------------------------------------

    def _build_dashboard(
        self, charted: dict[str, lambda_.IFunction], alarms: Sequence[cloudwatch.IAlarm]
    ) -> cloudwatch.Dashboard:
        sm = self.state_machine
        period = THROUGHPUT_PERIOD
        dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=DASHBOARD_NAME,
            default_interval=cdk.Duration.days(7),
        )
        dashboard.add_widgets(
            cloudwatch.TextWidget(
                markdown=(
                    "# eksd-adopt\nAdoptions of EKS Distro releases: intake, mirror, approvals, promotion. "
                    "Per release: `eksd-adopt status <release>`; gates: `eksd-adopt approvals list`."
                ),
                width=24,
                height=2,
            )
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Adoptions by status",
                width=12,
                left=[
                    service_metric("AdoptionsStarted", period=period).with_(label="started (notification)"),
                    service_metric("ReconcilerStarted", period=period).with_(label="started (reconciler)"),
                    sm.metric_succeeded(period=period, statistic="Sum", label="succeeded"),
                    sm.metric_failed(period=period, statistic="Sum", label="failed"),
                    sm.metric_timed_out(period=period, statistic="Sum", label="timed out"),
                    sm.metric_aborted(period=period, statistic="Sum", label="aborted"),
                    service_metric("SupersededReleases", period=period).with_(label="superseded"),
                    service_metric("InvalidManifests", period=period).with_(label="invalid"),
                ],
            ),
            cloudwatch.GraphWidget(
                title="Awaiting approval",
                width=12,
                left=[service_metric("PendingApprovals", "Maximum", WATCH_EVERY).with_(label="gates open")],
                right=[
                    service_metric("OldestPendingApprovalSeconds", "Maximum", WATCH_EVERY).with_(
                        label="oldest gate waiting (s)"
                    )
                ],
                left_annotations=[],
                right_annotations=[
                    cloudwatch.HorizontalAnnotation(
                        value=self.approval_pending_threshold.to_seconds(), label="alarm threshold"
                    )
                ],
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Mirror throughput (bytes per 5 min)",
                width=12,
                left=[
                    service_metric("ImageBytesUploaded", period=period).with_(label="image bytes uploaded"),
                    service_metric("ArchiveBytesCopied", period=period).with_(label="archive bytes copied"),
                ],
            ),
            cloudwatch.GraphWidget(
                title="Mirror work avoided (per 5 min)",
                width=12,
                left=[
                    service_metric("ImageBlobsMounted", period=period).with_(label="blobs mounted, not copied"),
                    service_metric("ImagesSkipped", period=period).with_(label="images already there"),
                    service_metric("ArchivesSkipped", period=period).with_(label="archives already there"),
                ],
            ),
        )
        duration_widgets: list[cloudwatch.IWidget] = [
            cloudwatch.GraphWidget(
                title="Adoption duration (execution time)",
                width=12,
                left=[
                    sm.metric_time(period=cdk.Duration.hours(1), statistic="p50", label="p50"),
                    sm.metric_time(period=cdk.Duration.hours(1), statistic="Maximum", label="max"),
                ],
            )
        ]
        if charted:
            duration_widgets.append(
                cloudwatch.GraphWidget(
                    title="Function duration (p90)",
                    width=12,
                    left=[
                        fn.metric_duration(period=period, statistic="p90", label=name)
                        for name, fn in sorted(charted.items())
                    ],
                    right=[
                        cloudwatch.MathExpression(
                            expression=" + ".join(f"e{i}" for i in range(len(charted))),
                            using_metrics={
                                f"e{i}": fn.metric_errors(period=period, statistic="Sum")
                                for i, (_, fn) in enumerate(sorted(charted.items()))
                            },
                            label="errors (all functions)",
                            period=period,
                        )
                    ],
                )
            )
        dashboard.add_widgets(*duration_widgets)
        if alarms:
            dashboard.add_widgets(cloudwatch.AlarmStatusWidget(title="Alarms", alarms=list(alarms), width=24))
        return dashboard
