"""Intake infrastructure: queue, DLQ, policy and subscription to the upstream topic, functions, schedule, ledger, alarms."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Template

from eksd_adopt.policy import DEFAULT_TOPIC_ARN
from infra.constants import DEFAULT_LAYER_DIR
from infra.constructs.intake import MAX_RECEIVE_COUNT, VISIBILITY_TIMEOUT, Intake
from infra.constructs.ledger import ReleaseLedger
from infra.function_factory import FunctionFactory
from infra.settings import DeploymentSettings
from tests.infra.conftest import resources_of

PLACEHOLDER_SM = {
    "Fn::Join": [
        "",
        [
            "arn:",
            {"Ref": "AWS::Partition"},
            ":states:",
            {"Ref": "AWS::Region"},
            ":",
            {"Ref": "AWS::AccountId"},
            ":stateMachine:eksd-adopt-release",
        ],
    ]
}


def one(template_json: dict[str, Any], kind: str, prefix: str = "") -> tuple[str, dict[str, Any]]:
    found = [(k, v) for k, v in resources_of(template_json, kind).items() if k.startswith(prefix)]
    assert len(found) == 1, [k for k, _ in found]
    return found[0]


def function_id(template_json: dict[str, Any], handler_dir: str) -> str:
    for name, function in resources_of(template_json, "AWS::Lambda::Function").items():
        if (
            function["Properties"]
            .get("Description", "")
            .startswith({"intake_notification": "Turn EKS-D", "intake_reconcile": "Start every EKS-D"}[handler_dir])
        ):
            return name
    raise AssertionError(f"no {handler_dir} function")


def statements_of(template_json: dict[str, Any], function: str) -> list[dict[str, Any]]:
    role = template_json["Resources"][function]["Properties"]["Role"]["Fn::GetAtt"][0]
    result = []
    for policy in resources_of(template_json, "AWS::IAM::Policy").values():
        if {"Ref": role} in policy["Properties"]["Roles"]:
            result += policy["Properties"]["PolicyDocument"]["Statement"]
    return result


def test_queue_is_encrypted_with_a_dlq_and_a_redrive(template_json: dict[str, Any]) -> None:
    queues = {k: v["Properties"] for k, v in resources_of(template_json, "AWS::SQS::Queue").items() if "Intake" in k}
    queue = next(p for k, p in queues.items() if k.startswith("IntakeQueue"))
    dlq_id = next(k for k in queues if k.startswith("IntakeDeadLetterQueue"))
    key = {"Fn::GetAtt": [one(template_json, "AWS::KMS::Key", "IntakeKey")[0], "Arn"]}
    assert queue["KmsMasterKeyId"] == key and queues[dlq_id]["KmsMasterKeyId"] == key
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
        "maxReceiveCount": MAX_RECEIVE_COUNT,
    }
    assert queue["VisibilityTimeout"] == VISIBILITY_TIMEOUT.to_seconds() == 6 * 60
    assert queues[dlq_id]["MessageRetentionPeriod"] == 14 * 24 * 3600


def test_queue_policy_admits_only_the_upstream_topic(template_json: dict[str, Any]) -> None:
    _, policy = one(template_json, "AWS::SQS::QueuePolicy", "IntakeQueuePolicy")
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    allows = [s for s in statements if s["Effect"] == "Allow"]
    assert allows == [
        {
            "Action": "sqs:SendMessage",
            "Condition": {"ArnEquals": {"aws:SourceArn": DEFAULT_TOPIC_ARN}},
            "Effect": "Allow",
            "Principal": {"Service": "sns.amazonaws.com"},
            "Resource": {"Fn::GetAtt": [one(template_json, "AWS::SQS::Queue", "IntakeQueue")[0], "Arn"]},
        }
    ]
    denies = [s for s in statements if s["Effect"] == "Deny"]
    assert denies and denies[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_key_lets_only_the_upstream_topic_encrypt_for_sns(template_json: dict[str, Any]) -> None:
    _, key = one(template_json, "AWS::KMS::Key", "IntakeKey")
    assert key["Properties"]["EnableKeyRotation"] is True
    sns_statements = [
        s for s in key["Properties"]["KeyPolicy"]["Statement"] if s.get("Principal") == {"Service": "sns.amazonaws.com"}
    ]
    assert len(sns_statements) == 1
    assert sns_statements[0]["Condition"] == {"ArnEquals": {"aws:SourceArn": DEFAULT_TOPIC_ARN}}
    assert sorted(sns_statements[0]["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]


def test_subscription_keeps_the_envelope_from_the_real_topic(template_json: dict[str, Any]) -> None:
    _, subscription = one(template_json, "AWS::SNS::Subscription", "IntakeUpstreamSubscription")
    assert subscription["Properties"] == {
        "Endpoint": {"Fn::GetAtt": [one(template_json, "AWS::SQS::Queue", "IntakeQueue")[0], "Arn"]},
        "Protocol": "sqs",
        "RawMessageDelivery": False,
        "Region": "us-east-1",
        "TopicArn": DEFAULT_TOPIC_ARN,
    }


def test_intake_reads_the_queue_with_partial_batch_failures(template_json: dict[str, Any]) -> None:
    _, mapping = one(template_json, "AWS::Lambda::EventSourceMapping")
    props = mapping["Properties"]
    assert props["FunctionName"] == {"Ref": function_id(template_json, "intake_notification")}
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["EventSourceArn"] == {"Fn::GetAtt": [one(template_json, "AWS::SQS::Queue", "IntakeQueue")[0], "Arn"]}


@pytest.mark.parametrize("handler_dir", ["intake_notification", "intake_reconcile"])
def test_functions_start_exactly_the_adoption_state_machine(template_json: dict[str, Any], handler_dir: str) -> None:
    name = function_id(template_json, handler_dir)
    statements = statements_of(template_json, name)
    starts = [s for s in statements if "states:StartExecution" in json.dumps(s["Action"])]
    # The workflow construct's state machine (named eksd-adopt-release) replaced the placeholder ARN.
    machine = next(
        k
        for k, v in template_json["Resources"].items()
        if v["Type"] == "AWS::StepFunctions::StateMachine"
        and v["Properties"].get("StateMachineName") == "eksd-adopt-release"
    )
    adoption_sm = {"Ref": machine}
    assert starts == [{"Action": "states:StartExecution", "Effect": "Allow", "Resource": adoption_sm}]
    assert not any(
        str(a).startswith("states:") and a != "states:StartExecution" for s in statements for a in _actions(s)
    )
    ledger = one(template_json, "AWS::DynamoDB::Table", "LedgerTable")[0]
    table_grants = [s for s in statements if any(a.startswith("dynamodb:") for a in _actions(s))]
    assert len(table_grants) == 1 and "dynamodb:DeleteItem" not in _actions(table_grants[0])
    assert table_grants[0]["Resource"][0] == {"Fn::GetAtt": [ledger, "Arn"]}
    assert table_grants[0]["Resource"][1]["Fn::Join"][1][1] == "/index/by-channel"  # that index only, no index/*
    env = template_json["Resources"][name]["Properties"]["Environment"]["Variables"]
    assert env["STATE_MACHINE_ARN"] == adoption_sm
    assert env["LEDGER_TABLE"] == {"Ref": ledger}
    assert env["UPSTREAM_TOPIC_ARN"] == DEFAULT_TOPIC_ARN
    assert env["TRACK_FROM_MINOR"] == "1-30" and env["TRACKED_CHANNELS"] == ""


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


def test_ledger_table(template_json: dict[str, Any]) -> None:
    _, table = one(template_json, "AWS::DynamoDB::Table", "LedgerTable")
    props = table["Properties"]
    assert table["DeletionPolicy"] == "Retain"
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["DeletionProtectionEnabled"] is True
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["SSESpecification"]["SSEEnabled"] is True and props["SSESpecification"]["SSEType"] == "KMS"
    assert props["SSESpecification"]["KMSMasterKeyId"] == {
        "Fn::GetAtt": [one(template_json, "AWS::KMS::Key", "LedgerKey")[0], "Arn"]
    }
    assert props["KeySchema"] == [{"AttributeName": "release_id", "KeyType": "HASH"}]
    [index] = props["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "by-channel"
    assert index["KeySchema"] == [
        {"AttributeName": "channel", "KeyType": "HASH"},
        {"AttributeName": "number", "KeyType": "RANGE"},
    ]
    types = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
    assert types == {"release_id": "S", "channel": "S", "number": "N"}


def test_reconciler_runs_on_a_schedule(template_json: dict[str, Any]) -> None:
    _, rule = one(template_json, "AWS::Events::Rule", "IntakeSchedule")
    assert rule["Properties"]["ScheduleExpression"] == "rate(15 minutes)"
    [target] = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [function_id(template_json, "intake_reconcile"), "Arn"]}


def test_alarms_go_to_the_encrypted_operators_topic(template_json: dict[str, Any]) -> None:
    topic_id, topic = one(template_json, "AWS::SNS::Topic", "OperatorsTopic")
    assert "KmsMasterKeyId" in topic["Properties"]
    _, key = one(template_json, "AWS::KMS::Key", "OperatorsKey")
    assert any(
        s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
        for s in key["Properties"]["KeyPolicy"]["Statement"]
    )
    alarms = {
        k: v["Properties"] for k, v in resources_of(template_json, "AWS::CloudWatch::Alarm").items() if "Intake" in k
    }
    by_metric = {}
    for props in alarms.values():
        assert props["AlarmActions"] == [{"Ref": topic_id}]
        assert props["Threshold"] == 1 and props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert props["TreatMissingData"] == "notBreaching"
        by_metric[props["MetricName"]] = props
    assert set(by_metric) == {"ApproximateNumberOfMessagesVisible", "InvalidManifests", "MissedNotifications", "Errors"}
    assert by_metric["InvalidManifests"]["Namespace"] == by_metric["MissedNotifications"]["Namespace"] == "EksdAdopt"
    assert by_metric["InvalidManifests"]["Dimensions"] == [{"Name": "service", "Value": "eksd-adopt"}]
    assert by_metric["Errors"]["Dimensions"] == [
        {"Name": "FunctionName", "Value": {"Ref": function_id(template_json, "intake_reconcile")}}
    ]
    dlq = next(k for k in resources_of(template_json, "AWS::SQS::Queue") if k.startswith("IntakeDeadLetterQueue"))
    assert by_metric["ApproximateNumberOfMessagesVisible"]["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq, "QueueName"]}}
    ]


def test_context_values_reach_the_construct() -> None:
    # Given an operator's context: another topic (another region), explicit channels, a faster schedule
    class Node:
        values = {
            "upstreamTopicArn": "arn:aws:sns:eu-west-1:111111111111:mirror-of-eksd",
            "trackedChannels": "1-31,1-32",
            "reconcileMinutes": "5",
        }

        def try_get_context(self, key: str) -> Any:
            return self.values.get(key)

    settings = DeploymentSettings.from_context(Node())
    assert settings.tracked_channels == ("1-31", "1-32") and settings.reconcile_minutes == 5
    # When the construct is built from them (a small stack, no layer build needed)
    stack = cdk.Stack(cdk.App(), "IntakeOnly")
    layer = lambda_.LayerVersion(stack, "Layer", code=lambda_.Code.from_asset(str(DEFAULT_LAYER_DIR)))
    from aws_cdk import aws_logs as logs

    intake = Intake(
        stack,
        "Intake",
        functions=FunctionFactory(stack, layer, log_retention=logs.RetentionDays.ONE_WEEK),
        ledger=ReleaseLedger(stack, "Ledger"),
        state_machine_arn="arn:aws:states:eu-west-1:111111111111:stateMachine:eksd-adopt-release",
        upstream_topic_arn=settings.upstream_topic_arn,
        alarm_topic=sns.Topic(stack, "Ops"),
        tracked_channels=settings.tracked_channels,
        track_from_minor=settings.track_from_minor,
        reconcile_every=cdk.Duration.minutes(settings.reconcile_minutes),
    )
    template = Template.from_stack(stack)
    # Then the subscription, the queue policy, the schedule and the environment follow them
    template.has_resource_properties(
        "AWS::SNS::Subscription", {"TopicArn": settings.upstream_topic_arn, "Region": "eu-west-1"}
    )
    policy = json.dumps(template.find_resources("AWS::SQS::QueuePolicy"))
    assert settings.upstream_topic_arn in policy and DEFAULT_TOPIC_ARN not in policy
    template.has_resource_properties("AWS::Events::Rule", {"ScheduleExpression": "rate(5 minutes)"})
    env = template.find_resources("AWS::Lambda::Function")
    variables = [f["Properties"]["Environment"]["Variables"] for f in env.values() if "Environment" in f["Properties"]]
    assert all(v["TRACKED_CHANNELS"] == "1-31,1-32" and v["TRACK_FROM_MINOR"] == "" for v in variables)
    assert all(v["RECONCILE_GRACE_SECONDS"] == "200" for v in variables)
    assert intake.alarms.keys() == {"DeadLetters", "InvalidManifests", "MissedNotifications", "ReconcilerErrors"}


def test_bad_context_is_refused() -> None:
    with pytest.raises(ValueError, match="track_from_minor"):
        DeploymentSettings(track_from_minor="latest")
    with pytest.raises(ValueError, match="reconcile_minutes"):
        DeploymentSettings(reconcile_minutes=0)
