"""The reconciler handler, the Step Functions starter and the ``adopt``/``status`` CLI against moto and the loopback CDN."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from eksd_adopt.cli.main import app
from eksd_adopt.intake import WorkflowStartError
from eksd_adopt.intake.aws import StepFunctionsWorkflowStarter
from eksd_adopt.local.lambdas import LambdaContext, load_handler
from eksd_adopt.workflow.models import AdoptionInput
from tests.integration.intake.conftest import REGION, IntakeWorld
from tests.integration.intake.test_intake_handler import invoke
from tests.logcapture import emitted_metrics

reconcile = load_handler("intake_reconcile")
runner = CliRunner()


def seed(world: IntakeWorld, release_id: str, status: str) -> None:
    channel, number = release_id.rsplit("-", 1)
    world.dynamodb.Table(world.ledger_table).put_item(
        Item={
            "release_id": release_id,
            "channel": channel,
            "number": int(number),
            "status": status,
            "announced": True,
            "message_ids": [],
            "problems": [],
            "decisions": [],
            "promoted_stages": {},
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
        }
    )


def test_reconciler_finds_an_unannounced_release_and_a_new_channel(
    world: IntakeWorld, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given 1-30-57 adopted; upstream published 1-30-58 and a new minor 1-31 without telling anyone
    seed(world, "1-30-57", "promoted")
    world.publish_channel("1-30", 58)
    world.publish_release("1-30", 58)
    world.publish_channel("1-31", 1)
    world.publish_release("1-31", 1)
    monkeypatch.setenv("TRACK_FROM_MINOR", "1-30")
    monkeypatch.setenv("RECONCILE_GRACE_SECONDS", "0")
    events_topic = world.sns.create_topic(Name=f"release-events-{world.ledger_table}")["TopicArn"]
    events_queue = world.sqs.create_queue(QueueName=f"events-{world.ledger_table}")["QueueUrl"]
    events_queue_arn = world.sqs.get_queue_attributes(QueueUrl=events_queue, AttributeNames=["QueueArn"])
    world.sns.subscribe(
        TopicArn=events_topic,
        Protocol="sqs",
        Endpoint=events_queue_arn["Attributes"]["QueueArn"],
        Attributes={"RawMessageDelivery": "true"},
    )
    monkeypatch.setenv("EVENTS_TOPIC_ARN", events_topic)
    # When the schedule fires
    report = reconcile.handler({"source": "aws.events"}, LambdaContext())
    # Then both start once, both count as missed notifications
    assert sorted(world.executions()) == ["adopt-1-30-58", "adopt-1-31-1"]
    assert all(p["announced"] is False for p in world.executions().values())
    assert sorted(report["missed"]) == ["1-30-58", "1-31-1"]
    assert emitted_metrics(capsys.readouterr().out)["MissedNotifications"] == 2
    published = world.sqs.receive_message(QueueUrl=events_queue, MaxNumberOfMessages=10)["Messages"]
    kinds = sorted((json.loads(m["Body"])["event_type"], json.loads(m["Body"])["release_id"]) for m in published)
    assert kinds == [
        ("notification.missed", "1-30-58"),
        ("notification.missed", "1-31-1"),
        ("release.detected", "1-30-58"),
        ("release.detected", "1-31-1"),
    ]
    # The late announcement of 1-30-58 starts nothing more but marks it announced.
    world.announce("Amazon EKS Distro v1-30-eks-58 is now available.")
    assert invoke(world, world.receive()) == {"batchItemFailures": []}
    assert len(world.executions()) == 2
    record = world.record("1-30-58")
    assert record is not None and record["announced"] is True
    # The next run finds nothing to do.
    again = reconcile.handler({}, LambdaContext())
    assert again["detected"] == [] and again["results"] == []


def test_reconciler_fails_the_run_when_a_tracked_channel_is_unreadable(
    world: IntakeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.publish_channel("1-30", 3)
    world.publish_release("1-30", 3)
    monkeypatch.setenv("TRACKED_CHANNELS", "1-30,1-29")
    monkeypatch.setenv("RECONCILE_GRACE_SECONDS", "0")
    with pytest.raises(Exception, match=r"1-29.*404") as raised:
        reconcile.handler({}, LambdaContext())
    assert type(raised.value).__name__ == "ReconcileError"
    assert list(world.executions()) == ["adopt-1-30-3"]  # the readable channel was still reconciled


def test_starter_treats_an_existing_execution_as_started(world: IntakeWorld) -> None:
    starter = StepFunctionsWorkflowStarter(world.state_machine_arn, client=boto3.client("stepfunctions", REGION))
    payload = AdoptionInput(
        release_id="1-30-1",
        channel="1-30",
        number=1,
        kubernetes_version=None,
        manifest_url="https://distro.eks.amazonaws.com/kubernetes-1-30/kubernetes-1-30-eks-1.yaml",
        manifest_sha256="0" * 64,
        manifest_yaml="x",
        announced=False,
    )
    first = starter.start("adopt-1-30-1", payload)
    second = starter.start("adopt-1-30-1", payload.model_copy(update={"announced": True}))
    assert not first.already_existed and second.already_existed
    assert first.execution_arn == second.execution_arn
    missing = StepFunctionsWorkflowStarter(
        world.state_machine_arn + "-nope", client=boto3.client("stepfunctions", REGION)
    )
    with pytest.raises(WorkflowStartError, match="StateMachineDoesNotExist"):
        missing.start("adopt-1-30-1", payload)


def _cli(*args: str) -> Any:
    return runner.invoke(app, list(args))


def test_cli_adopt_by_channel_and_number_then_status(world: IntakeWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    world.publish_release("1-30", 58)
    result = _cli("adopt", "--channel", "1-30", "--number", "58")
    assert result.exit_code == 0, result.output
    assert "adopt-1-30-58" in result.output
    again = _cli("adopt", "--channel", "1-30", "--number", "58")
    assert again.exit_code == 0 and "already in the ledger" in again.output
    assert list(world.executions()) == ["adopt-1-30-58"]
    monkeypatch.setenv("COLUMNS", "200")
    status = _cli("status", "--channel", "1-30")
    assert status.exit_code == 0, status.output
    assert "1-30-58" in status.output and "adopting" in status.output and "v1.30.4" in status.output
    as_json = _cli("status", "--json")
    assert [r["release_id"] for r in json.loads(as_json.output)] == ["1-30-58"]


def test_cli_adopt_by_manifest_url_and_channel_latest(world: IntakeWorld) -> None:
    world.publish_release("1-31", 2)
    url = "https://distro.eks.amazonaws.com/kubernetes-1-31/kubernetes-1-31-eks-2.yaml"
    assert _cli("adopt", "--manifest-url", url).exit_code == 0
    world.publish_channel("1-32", 5)
    world.publish_release("1-32", 5)
    assert _cli("adopt", "--channel", "1-32").exit_code == 0
    assert sorted(world.executions()) == ["adopt-1-31-2", "adopt-1-32-5"]


def test_cli_superseded_needs_force(world: IntakeWorld) -> None:
    seed(world, "1-30-58", "promoted")
    world.publish_release("1-30", 57)
    refused = _cli("adopt", "--channel", "1-30", "--number", "57")
    assert refused.exit_code == 1 and "--force" in refused.output and world.executions() == {}
    forced = _cli("adopt", "--channel", "1-30", "--number", "57", "--force")
    assert forced.exit_code == 0, forced.output
    [name] = world.executions()
    assert name.startswith("adopt-1-30-57-r")


def test_cli_invalid_manifest_lists_every_problem(world: IntakeWorld) -> None:
    from tests.unit.intake.support import make_manifest

    bad = make_manifest("1-30", 58).replace("sha256: ", "sha256: nothex", 1).replace("arch:", "arches:", 1)
    world.publish_release("1-30", 58, body=bad)
    result = _cli("adopt", "--channel", "1-30", "--number", "58")
    assert result.exit_code == 1
    assert "nothex" in result.output and "arches" in result.output and "invalid" in result.output
    assert world.executions() == {}


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ((), "name a release"),
        (("--manifest-url", "https://distro.eks.amazonaws.com/x.yaml", "--number", "3"), "exclude each other"),
        (("--channel", "1-30", "--number", "1", "--endpoint", "nonsense"), "HOST=URL"),
    ],
)
def test_cli_usage_errors_exit_2(world: IntakeWorld, args: tuple[str, ...], needle: str) -> None:
    result = _cli("adopt", *args)
    assert result.exit_code == 2 and needle in result.output
    assert world.executions() == {}
