"""Integration fixtures: moto SNS -> SQS -> the intake handler, the ledger table, a state machine, a loopback CDN."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from eksd_adopt.ledger.dynamodb import create_ledger_table as create_table
from eksd_adopt.local.cdn import LocalCdn
from tests.unit.intake.support import channel_path, make_channel_file, make_manifest, manifest_path

REGION = "us-east-1"
ACCOUNT = "123456789012"
HOST = "distro.eks.amazonaws.com"
LEDGER = "eksd-adopt-ledger"
DUMMY_DEFINITION = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})


def create_ledger_table(dynamodb: Any, name: str = LEDGER) -> None:
    """The table as infra/constructs/ledger.py declares it (key release_id, GSI by-channel)."""
    create_table(dynamodb, name)


@dataclass
class IntakeWorld:
    """The AWS side (in moto) and the upstream CDN (on loopback) the intake runs against."""

    cdn: LocalCdn
    sns: Any
    sqs: Any
    sfn: Any
    dynamodb: Any
    ledger_table: str
    topic_arn: str
    queue_url: str
    queue_arn: str
    dlq_url: str
    state_machine_arn: str

    # ----- upstream --------------------------------------------------------------------------------
    def publish_release(self, channel: str, number: int, *, body: str | None = None) -> None:
        self.write(manifest_path(channel, number), body if body is not None else make_manifest(channel, number))

    def publish_channel(self, channel: str, latest: int, *, active: bool = True) -> None:
        self.write(channel_path(channel), make_channel_file(channel, latest, active=active))

    def write(self, path: str, text: str) -> None:
        target = self.cdn.root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    def announce(self, message: str, *, subject: str | None = None, topic_arn: str | None = None) -> str:
        kwargs = {"Subject": subject} if subject else {}
        return str(self.sns.publish(TopicArn=topic_arn or self.topic_arn, Message=message, **kwargs)["MessageId"])

    # ----- the queue as Lambda's event source mapping sees it ----------------------------------------
    def receive(self, expected: int = 1) -> dict[str, Any]:
        """Receive up to 10 messages and shape them as Lambda's SQS event."""
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
        ).get("Messages", [])
        assert len(messages) == expected, messages
        return {"Records": [self._record(m) for m in messages]}

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": {},
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": REGION,
        }

    def settle(self, event: dict[str, Any], response: dict[str, Any]) -> None:
        """What the event source mapping does: delete what succeeded, make failures visible again now."""
        failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
        for record in event["Records"]:
            if record["messageId"] in failed:
                self.sqs.change_message_visibility(
                    QueueUrl=self.queue_url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=0
                )
            else:
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=record["receiptHandle"])

    # ----- what happened ---------------------------------------------------------------------------
    def executions(self) -> dict[str, dict[str, Any]]:
        """Execution name -> its input."""
        listed = self.sfn.list_executions(stateMachineArn=self.state_machine_arn)["executions"]
        return {
            e["name"]: json.loads(self.sfn.describe_execution(executionArn=e["executionArn"])["input"]) for e in listed
        }

    def record(self, release_id: str) -> dict[str, Any] | None:
        item = self.dynamodb.Table(self.ledger_table).get_item(Key={"release_id": release_id}).get("Item")
        return dict(item) if item else None


@pytest.fixture(scope="module")
def aws() -> Iterator[None]:
    """One moto for the module: starting it resets boto3's session, which costs ~1 s per test otherwise."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "POWERTOOLS_TRACE_DISABLED": "1",
            "POWERTOOLS_SERVICE_NAME": "eksd-adopt",
        }.items():
            patch.setenv(name, value)
        for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
            patch.delenv(name, raising=False)
        with mock_aws():
            yield


@pytest.fixture
def world(aws: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[IntakeWorld]:
    """Fresh resources for each test, under unique names in the module's moto."""
    suffix = uuid.uuid4().hex[:8]
    for name in ("TRACKED_CHANNELS", "TRACK_FROM_MINOR", "EVENTS_TOPIC_ARN", "RECONCILE_GRACE_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "cdn").mkdir()
    cdn = LocalCdn(tmp_path / "cdn")
    with cdn as base_url:
        sns, sqs, sfn = (boto3.client(s, region_name=REGION) for s in ("sns", "sqs", "stepfunctions"))
        dynamodb = boto3.resource("dynamodb", region_name=REGION)
        ledger = f"{LEDGER}-{suffix}"
        create_ledger_table(boto3.client("dynamodb", region_name=REGION), ledger)
        topic = sns.create_topic(Name=f"eks-distro-updates-{suffix}")["TopicArn"]
        dlq_url = sqs.create_queue(QueueName=f"intake-dlq-{suffix}")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        queue_url = sqs.create_queue(
            QueueName=f"intake-{suffix}",
            Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"})},
        )["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        # Envelope kept (no raw delivery), as the stack subscribes: the handler checks TopicArn.
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        state_machine_arn = sfn.create_state_machine(
            name=f"eksd-adopt-release-{suffix}", definition=DUMMY_DEFINITION, roleArn=f"arn:aws:iam::{ACCOUNT}:role/sfn"
        )["stateMachineArn"]
        monkeypatch.setenv("LEDGER_TABLE", ledger)
        monkeypatch.setenv("STATE_MACHINE_ARN", state_machine_arn)
        monkeypatch.setenv("UPSTREAM_TOPIC_ARN", topic)
        monkeypatch.setenv("EKSD_ADOPT_ENDPOINTS", f"{HOST}={base_url}")
        monkeypatch.setenv("MANIFEST_NOT_FOUND_RETRY_SECONDS", "900")
        yield IntakeWorld(
            cdn=cdn,
            sns=sns,
            sqs=sqs,
            sfn=sfn,
            dynamodb=dynamodb,
            ledger_table=ledger,
            topic_arn=topic,
            queue_url=queue_url,
            queue_arn=queue_arn,
            dlq_url=dlq_url,
            state_machine_arn=state_machine_arn,
        )
