"""In-process moto (SNS, SQS) for the events suite: fake credentials, never a real endpoint."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

REGION = "eu-west-1"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SNS", "AWS_ENDPOINT_URL_SQS", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield


@pytest.fixture
def topic_arn(aws: None) -> str:
    return str(boto3.client("sns", region_name=REGION).create_topic(Name="eksd-adopt-release-events")["TopicArn"])


def make_queue(name: str) -> tuple[str, str]:
    """(queue URL, queue ARN)."""
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def drain(queue_url: str) -> list[dict[str, Any]]:
    """Every message on the queue: ``{"body": <decoded JSON>, "attributes": {name: value}}``."""
    sqs = boto3.client("sqs", region_name=REGION)
    received: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get(
            "Messages", []
        )
        if not messages:
            return received
        for m in messages:
            attributes = {k: v["StringValue"] for k, v in m.get("MessageAttributes", {}).items()}
            received.append({"body": json.loads(m["Body"]), "attributes": attributes})
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
