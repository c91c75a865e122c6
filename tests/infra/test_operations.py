"""The monitoring construct: alarms to the operators' topic, the approval watch (scan only), the dashboard."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from tests.infra.conftest import resources_of

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

THRESHOLD_SECONDS = 2 * 24 * 3600  # the stack's default


@pytest.fixture(scope="module")
def monitoring_template(template_json: dict[str, Any]) -> dict[str, Any]:
    """The whole stack (synthesized once per session, cdk-nag on): monitoring is composed into it."""
    return template_json


def _alarm(template: dict[str, Any], fragment: str) -> dict[str, Any]:
    (alarm,) = [
        a["Properties"] for name, a in resources_of(template, "AWS::CloudWatch::Alarm").items() if fragment in name
    ]
    return alarm


def _operators_topic(template: dict[str, Any]) -> str:
    (topic,) = [name for name in resources_of(template, "AWS::SNS::Topic") if name.startswith("Operators")]
    return topic


def test_failed_timed_out_and_aborted_executions_alarm_the_operators(monitoring_template: dict[str, Any]) -> None:
    alarm = _alarm(monitoring_template, "FailedAdoptions")
    assert alarm["AlarmActions"] == [{"Ref": _operators_topic(monitoring_template)}]
    assert alarm["Threshold"] == 1 and alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["TreatMissingData"] == "notBreaching"
    expression = next(m["Expression"] for m in alarm["Metrics"] if "Expression" in m)
    assert expression == "failed + timedOut + aborted"
    names = {m["MetricStat"]["Metric"]["MetricName"] for m in alarm["Metrics"] if "MetricStat" in m}
    assert names == {"ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"}
    for m in alarm["Metrics"]:
        if "MetricStat" in m:
            assert m["MetricStat"]["Metric"]["Namespace"] == "AWS/States"
            assert m["MetricStat"]["Metric"]["Dimensions"][0]["Name"] == "StateMachineArn"


def test_approvals_pending_past_the_threshold_alarm_and_silence_counts_as_breaching(
    monitoring_template: dict[str, Any],
) -> None:
    alarm = _alarm(monitoring_template, "ApprovalsPendingTooLong")
    assert (alarm["MetricName"], alarm["Namespace"], alarm["Statistic"]) == (
        "OldestPendingApprovalSeconds",
        "EksdAdopt",
        "Maximum",
    )
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "eksd-adopt"}]  # what Powertools Metrics adds
    assert alarm["Threshold"] == THRESHOLD_SECONDS
    assert alarm["TreatMissingData"] == "breaching"  # the watch publishes 0 when nothing waits
    assert alarm["AlarmActions"] == [{"Ref": _operators_topic(monitoring_template)}]


def test_the_watch_runs_every_15_minutes_and_may_only_scan_the_approvals_table(
    monitoring_template: dict[str, Any],
) -> None:
    functions = resources_of(monitoring_template, "AWS::Lambda::Function")
    (watch_name,) = [n for n in functions if n.startswith("ApprovalsApprovalWatch")]
    watch = functions[watch_name]["Properties"]
    (table_name,) = [n for n in resources_of(monitoring_template, "AWS::DynamoDB::Table") if n.startswith("Approvals")]
    assert watch["Environment"]["Variables"]["APPROVALS_TABLE"] == {"Ref": table_name}
    (rule,) = [
        r["Properties"]
        for r in resources_of(monitoring_template, "AWS::Events::Rule").values()
        if r["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": [watch_name, "Arn"]}
    ]
    assert rule["ScheduleExpression"] == "rate(15 minutes)"
    role = watch["Role"]["Fn::GetAtt"][0]
    statements = [
        s
        for p in resources_of(monitoring_template, "AWS::IAM::Policy").values()
        if {"Ref": role} in p["Properties"]["Roles"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    dynamodb = [s for s in statements if any(str(a).startswith("dynamodb:") for a in _list(s["Action"]))]
    assert dynamodb == [{"Action": "dynamodb:Scan", "Effect": "Allow", "Resource": {"Fn::GetAtt": [table_name, "Arn"]}}]
    kms = [s for s in statements if any(str(a).startswith("kms:") for a in _list(s["Action"]))]
    assert kms and all(_list(s["Action"]) == ["kms:Decrypt"] for s in kms)
    assert all(
        not str(a).startswith(("dynamodb:Put", "dynamodb:Update", "dynamodb:Delete"))
        for s in statements
        for a in _list(s["Action"])
    )


def test_dashboard_shows_adoptions_by_status_throughput_durations_and_alarms(
    monitoring_template: dict[str, Any],
) -> None:
    (dashboard,) = resources_of(monitoring_template, "AWS::CloudWatch::Dashboard").values()
    assert dashboard["Properties"]["DashboardName"] == "eksd-adopt"
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for title in (
        "Adoptions by status",
        "Awaiting approval",
        "Mirror throughput",
        "Adoption duration",
        "Function duration",
        "Alarms",
    ):
        assert title in body, title
    for metric in (
        "AdoptionsStarted",
        "ExecutionsSucceeded",
        "ExecutionsFailed",
        "PendingApprovals",
        "OldestPendingApprovalSeconds",
        "ImageBytesUploaded",
        "ArchiveBytesCopied",
        "ExecutionTime",
        "Duration",
    ):
        assert f'\\"{metric}\\"' in body, metric


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
