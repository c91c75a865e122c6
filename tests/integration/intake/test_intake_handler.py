"""Moto SNS -> SQS (envelope kept) -> the intake handler -> ledger + Step Functions, with the CDN on loopback."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

import pytest

from eksd_adopt.local.cdn import Fault
from eksd_adopt.local.lambdas import LambdaContext, load_handler
from tests.conftest import REAL_ANNOUNCEMENTS
from tests.integration.intake.conftest import IntakeWorld
from tests.logcapture import emitted_metrics
from tests.unit.intake.support import make_manifest

intake = load_handler("intake_notification")


def invoke(world: IntakeWorld, event: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = intake.handler(event, LambdaContext())
    world.settle(event, response)
    return response


def _case(path: Path) -> tuple[str, str, str | None]:
    release_id = path.name.split(".")[0]
    channel = release_id.rsplit("-", 1)[0]
    return path.read_text(), release_id, f"New Release of EKS-D v{channel}"


# Older or variant bodies seen upstream beyond the saved samples (see eksd-facts.md).
VARIANTS = [
    ("Amazon EKS Distro v1.21-18 is now available. Builds are available through ECR Public Gallery.", "1-21-18", None),
    (
        "Amazon EKS Distro v1-27-eks-35 is now available. THIS WILL BE THE LAST RELEASE FOR 1.27. "
        "Please upgrade to a newer minor. Builds are available through ECR Public Gallery "
        "(https://gallery.ecr.aws/eks-distro).\n\t",
        "1-27-35",
        "New Release of EKS-D v1-27",
    ),
    (
        "Amazon EKS Distro now supports Kubernetes version 1.33. Highlights of the Kubernetes 1.33 release include "
        "many things. Amazon EKS Distro builds of Kubernetes 1.33 are available through ECR Public Gallery.",
        "1-33-1",
        None,
    ),
]
CASES = [_case(p) for p in REAL_ANNOUNCEMENTS] + VARIANTS


@pytest.mark.parametrize(("message", "release_id", "subject"), CASES, ids=[c[1] for c in CASES])
def test_every_announcement_starts_the_right_adoption(
    world: IntakeWorld, message: str, release_id: str, subject: str | None
) -> None:
    # Given the release on the CDN (and its channel file, which a channel-only message needs)
    channel, number = release_id.rsplit("-", 1)[0], int(release_id.rsplit("-", 1)[1])
    world.publish_release(channel, number)
    world.publish_channel(channel, number)
    # When upstream announces it and the intake handles the delivery
    sns_id = world.announce(message, subject=subject)
    response = invoke(world, world.receive())
    # Then exactly the right adoption started, with the manifest's exact bytes
    assert response == {"batchItemFailures": []}
    executions = world.executions()
    assert list(executions) == [f"adopt-{release_id}"]
    payload = executions[f"adopt-{release_id}"]
    text = make_manifest(channel, number)
    assert payload == {
        "release_id": release_id,
        "channel": channel,
        "number": number,
        "kubernetes_version": f"v{channel.replace('-', '.')}.4",
        "manifest_url": f"https://distro.eks.amazonaws.com/kubernetes-{channel}/kubernetes-{channel}-eks-{number}.yaml",
        "manifest_sha256": hashlib.sha256(text.encode()).hexdigest(),
        "manifest_yaml": text,
        "announced": True,
    }
    record = world.record(release_id)
    assert record is not None
    assert record["status"] == "adopting" and record["message_ids"] == [sns_id]
    assert record["execution_arn"].endswith(f":adopt-{release_id}")


@pytest.mark.reliability(
    area="intake",
    fault="SQS redelivers a message and upstream announces the release twice",
    expected="one execution; both SNS message ids recorded",
)
def test_redelivery_and_duplicate_messages_start_one_execution(world: IntakeWorld) -> None:
    world.publish_release("1-30", 58)
    message = "Amazon EKS Distro v1-30-eks-58 is now available."
    first = world.announce(message)
    event = world.receive()
    assert intake.handler(event, LambdaContext()) == {"batchItemFailures": []}
    # SQS delivers the same message again (at-least-once) before it was deleted...
    assert intake.handler(event, LambdaContext()) == {"batchItemFailures": []}
    world.settle(event, {"batchItemFailures": []})
    # ...and upstream sends the announcement twice.
    second = world.announce(message)
    invoke(world, world.receive())
    assert list(world.executions()) == ["adopt-1-30-58"]
    record = world.record("1-30-58")
    assert record is not None and record["message_ids"] == [first, second]


@pytest.mark.reliability(
    area="intake",
    fault="two deliveries of one release handled at once, both past the ledger read",
    expected="one execution (the ledger's conditional create decides)",
)
def test_concurrent_deliveries_for_one_release_start_one_execution(world: IntakeWorld) -> None:
    world.publish_release("1-31", 4)
    for _ in range(2):
        world.announce("Amazon EKS Distro v1-31-eks-4 is now available.")
    event = world.receive(expected=2)
    # Two invocations, one message each. Each reads the ledger (nothing there) before its fetch, and
    # both fetches stall a second, so both reach the conditional create believing they are first.
    world.cdn.inject(Fault.SLOW, path="/kubernetes-1-31/kubernetes-1-31-eks-4.yaml", times=2, delay=1.0)
    responses: list[dict[str, Any]] = []

    def run(record: dict[str, Any]) -> None:
        responses.append(intake.handler({"Records": [record]}, LambdaContext()))

    threads = [threading.Thread(target=run, args=(r,)) for r in event["Records"]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert responses == [{"batchItemFailures": []}] * 2
    assert [r.fault for r in world.cdn.requests] == [Fault.SLOW, Fault.SLOW]  # both really fetched
    assert list(world.executions()) == ["adopt-1-31-4"]
    record = world.record("1-31-4")
    assert record is not None and len(record["message_ids"]) == 2


@pytest.mark.reliability(
    area="intake",
    fault="a message from a topic other than the upstream one",
    expected="refused, retried to the DLQ, nothing recorded or started, RefusedNotifications metric",
)
def test_message_from_another_topic_is_refused(world: IntakeWorld, capsys: pytest.CaptureFixture[str]) -> None:
    other = world.sns.create_topic(Name="someone-elses-topic")["TopicArn"]
    world.sns.subscribe(TopicArn=other, Protocol="sqs", Endpoint=world.queue_arn)
    world.publish_release("1-30", 58)
    world.announce("Amazon EKS Distro v1-30-eks-58 is now available.", topic_arn=other)
    event = world.receive()
    response = invoke(world, event)
    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert world.executions() == {}
    assert world.dynamodb.Table(world.ledger_table).scan()["Items"] == []
    assert emitted_metrics(capsys.readouterr().out).get("RefusedNotifications") == 1


@pytest.mark.reliability(
    area="intake",
    fault="an announced release whose manifest is invalid",
    expected="recorded invalid with every problem, not started, InvalidManifests metric, message to the DLQ",
)
def test_invalid_manifest_is_recorded_alarmed_and_ends_in_the_dlq(
    world: IntakeWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = make_manifest("1-30", 58).replace("sha256: ", "sha256: nothex", 1)
    bad = bad.replace("public.ecr.aws/eks-distro/kubernetes/pause", "docker.io/library/pause", 1)
    world.publish_release("1-30", 58, body=bad)
    world.announce("Amazon EKS Distro v1-30-eks-58 is now available.")
    # Every receive fails the message; after maxReceiveCount (3) SQS moves it to the DLQ.
    for _ in range(3):
        response = invoke(world, world.receive())
        assert len(response["batchItemFailures"]) == 1
    assert world.sqs.receive_message(QueueUrl=world.queue_url).get("Messages", []) == []
    assert len(world.sqs.receive_message(QueueUrl=world.dlq_url).get("Messages", [])) == 1
    record = world.record("1-30-58")
    assert record is not None and record["status"] == "invalid"
    assert any("nothex" in p for p in record["problems"])
    assert any("docker.io" in p for p in record["problems"])
    assert world.executions() == {}
    assert emitted_metrics(capsys.readouterr().out)["InvalidManifests"] == 3


@pytest.mark.reliability(
    area="intake",
    fault="CDN lags the notification (404, then 200)",
    expected="message retried; adopted on redelivery",
)
def test_cdn_answering_404_then_200_adopts_on_redelivery(world: IntakeWorld) -> None:
    world.announce("Amazon EKS Distro v1-32-eks-9 is now available.")
    event = world.receive()
    # The CDN lags the message: 404, so the message fails and comes back; nothing is written.
    assert len(invoke(world, event)["batchItemFailures"]) == 1
    assert world.record("1-32-9") is None
    assert [r.status for r in world.cdn.requests] == [404]
    world.publish_release("1-32", 9)
    retried = world.receive()
    assert retried["Records"][0]["attributes"]["ApproximateReceiveCount"] == "2"
    assert invoke(world, retried) == {"batchItemFailures": []}
    assert list(world.executions()) == ["adopt-1-32-9"]


@pytest.mark.reliability(
    area="intake",
    fault="manifest still missing past the retry window",
    expected="message acknowledged; release left detected for the reconciler",
)
def test_not_found_past_the_retry_window_is_left_to_the_reconciler(
    world: IntakeWorld, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MANIFEST_NOT_FOUND_RETRY_SECONDS", "0")
    world.announce("Amazon EKS Distro v1-32-eks-10 is now available.")
    assert invoke(world, world.receive()) == {"batchItemFailures": []}  # acknowledged: no endless retries
    record = world.record("1-32-10")
    assert record is not None and record["status"] == "detected" and record["announced"] is True
    assert world.executions() == {}
    assert emitted_metrics(capsys.readouterr().out)["ManifestsNotFound"] == 1


def test_settings_are_read_per_invocation(world: IntakeWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    # The same process, a different upstream topic: the message that was fine is now refused.
    world.publish_release("1-30", 58)
    world.announce("Amazon EKS Distro v1-30-eks-58 is now available.")
    event = world.receive()
    monkeypatch.setenv("UPSTREAM_TOPIC_ARN", "arn:aws:sns:us-east-1:379412251201:eks-distro-updates")
    assert len(intake.handler(event, LambdaContext())["batchItemFailures"]) == 1
    monkeypatch.setenv("UPSTREAM_TOPIC_ARN", world.topic_arn)
    assert intake.handler(event, LambdaContext()) == {"batchItemFailures": []}


@pytest.mark.reliability(
    area="intake",
    fault="invalid function configuration",
    expected="the invocation fails with the variable named",
)
def test_bad_configuration_fails_loudly(world: IntakeWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKED_CHANNELS", "1-30,latest")
    with pytest.raises(ValueError, match="TRACKED_CHANNELS"):
        intake.handler({"Records": []}, LambdaContext())
