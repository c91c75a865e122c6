"""The workflow's data access: S3 manifests, SSM pointers, the approvals table, Step Functions callbacks, SNS.

The only module of the workflow package that touches boto3; AWS errors become domain errors here.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.exceptions import ClientError

from eksd_adopt.errors import EksdAdoptError
from eksd_adopt.workflow.errors import ApprovalStateError, ArtifactMissingError
from eksd_adopt.workflow.models import ApprovalRequest, ApprovalStatus, ApprovalVote, StagePointer
from eksd_adopt.workflow.promotion import parameter_name


class ManifestConflictError(EksdAdoptError):
    """Different bytes were offered for a write-once manifest key."""


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class S3DocumentStore:
    """Documents by ``s3://bucket/key`` location; without a bucket it only reads (each location names its own)."""

    def __init__(self, bucket: str | None, *, client: Any | None = None) -> None:
        self.bucket = bucket
        self.s3 = client or boto3.client("s3")

    def location(self, key: str) -> str:
        return f"s3://{self._writable(key)}/{key}"

    def _writable(self, key: str) -> str:
        if not self.bucket:
            raise ValueError(f"no bucket to store {key} in: this document store only reads")
        return self.bucket

    def put(self, key: str, body: bytes, *, write_once: bool = False, content_type: str = "application/yaml") -> str:
        bucket, location = self._writable(key), self.location(key)
        if write_once:
            try:
                existing = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            except ClientError as exc:
                if _code(exc) not in ("NoSuchKey", "404"):
                    raise
            else:
                if hashlib.sha256(existing).digest() != hashlib.sha256(body).digest():
                    raise ManifestConflictError(f"{location} exists with different content")
                return location
        self.s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=body,
            ContentType=content_type,
            ChecksumAlgorithm="SHA256",
        )
        return location

    def get(self, location: str) -> bytes:
        parts = urlsplit(location)
        if parts.scheme != "s3" or not parts.netloc:
            raise ArtifactMissingError(f"{location} is not an s3:// location")
        try:
            body: bytes = self.s3.get_object(Bucket=parts.netloc, Key=parts.path.lstrip("/"))["Body"].read()
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404", "NoSuchBucket"):
                raise ArtifactMissingError(f"{location} does not exist") from exc
            raise
        return body


class SsmReleasePointers:
    def __init__(self, *, client: Any | None = None, kms_key_id: str | None = None) -> None:
        self.ssm = client or boto3.client("ssm")
        self.kms_key_id = kms_key_id

    def get(self, stage: str, channel: str) -> StagePointer | None:
        try:
            value = self.ssm.get_parameter(Name=parameter_name(stage, channel))["Parameter"]["Value"]
        except ClientError as exc:
            if _code(exc) == "ParameterNotFound":
                return None
            raise
        return StagePointer.model_validate_json(value)

    def put(self, stage: str, pointer: StagePointer) -> None:
        self.ssm.put_parameter(
            Name=parameter_name(stage, pointer.channel),
            Value=pointer.model_dump_json(),
            Type="String",
            Overwrite=True,
            Description=f"Current EKS-D release of channel {pointer.channel} in stage {stage}",
        )


def create_approvals_table(client: Any, name: str) -> None:
    """Create the approvals table as ``infra/constructs/approvals.py`` declares it (for the local runtime and tests)."""
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "release_id", "AttributeType": "S"},
            {"AttributeName": "stage", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "release_id", "KeyType": "HASH"},
            {"AttributeName": "stage", "KeyType": "RANGE"},
        ],
    )


class DynamoDbApprovalStore:
    """Table: partition key ``release_id`` (S), sort key ``stage`` (S); encrypted with a customer key."""

    def __init__(self, table_name: str, *, resource: Any | None = None) -> None:
        self.table = (resource or boto3.resource("dynamodb")).Table(table_name)

    @staticmethod
    def _from_item(item: dict[str, Any]) -> ApprovalRequest:
        data = json.loads(json.dumps(item, default=lambda v: int(v) if v == int(v) else float(v)))
        data["summary"] = json.loads(data.get("summary") or "{}")
        return ApprovalRequest.model_validate(data)

    def put(self, request: ApprovalRequest) -> None:
        item = json.loads(request.model_dump_json())
        item["summary"] = json.dumps(item["summary"])  # free-form: stored as a string, never as typed attributes
        item["voters"] = [v.counted_as or v.approver for v in request.votes]  # one vote per counted approver
        self.table.put_item(Item=item)

    def get(self, release_id: str, stage: str) -> ApprovalRequest | None:
        item = self.table.get_item(Key={"release_id": release_id, "stage": stage}, ConsistentRead=True).get("Item")
        return self._from_item(item) if item else None

    def list(self, status: ApprovalStatus | None = None) -> list[ApprovalRequest]:
        kwargs: dict[str, Any] = {}
        if status is not None:
            kwargs = {
                "FilterExpression": "#s = :s",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": {":s": status.value},
            }
        items: list[dict[str, Any]] = []
        while True:
            page = self.table.scan(**kwargs)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return [self._from_item(i) for i in items]
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def add_vote(self, release_id: str, stage: str, vote: ApprovalVote) -> ApprovalRequest:
        counted = vote.counted_as or vote.approver
        try:
            response = self.table.update_item(
                Key={"release_id": release_id, "stage": stage},
                UpdateExpression="SET votes = list_append(votes, :v), voters = list_append(voters, :who)",
                # One vote per counted approver (a role's sessions are one unless the rule says otherwise):
                # "distinct approvers" is enforced by the table, atomically, not by the caller.
                ConditionExpression="#s = :pending AND NOT contains(voters, :approver)",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":v": [json.loads(vote.model_dump_json())],
                    ":who": [counted],
                    ":approver": counted,
                    ":pending": ApprovalStatus.PENDING.value,
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                current = self.get(release_id, stage)
                if current is None:
                    raise ApprovalStateError(f"no approval was requested for {release_id} in {stage}") from exc
                if current.status is not ApprovalStatus.PENDING:
                    raise ApprovalStateError(f"{release_id} in {stage} is already {current.status.value}") from exc
                why = "" if counted == vote.approver else f" ({vote.approver} counts as {counted}: one approver)"
                raise ApprovalStateError(f"{counted} has already decided on {release_id} in {stage}{why}") from exc
            raise
        return self._from_item(response["Attributes"])

    def close(self, release_id: str, stage: str, status: ApprovalStatus) -> bool:
        try:
            self.table.update_item(
                Key={"release_id": release_id, "stage": stage},
                UpdateExpression="SET #s = :new, closed_at = :now REMOVE task_token",
                ConditionExpression="#s = :pending",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":new": status.value,
                    ":pending": ApprovalStatus.PENDING.value,
                    ":now": datetime.now().astimezone().isoformat(),
                },
            )
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True


class StepFunctionsCallbacks:
    def __init__(self, *, client: Any | None = None) -> None:
        self.sfn = client or boto3.client("stepfunctions")

    def succeed(self, task_token: str, output: dict[str, Any]) -> None:
        try:
            self.sfn.send_task_success(taskToken=task_token, output=json.dumps(output))
        except ClientError as exc:
            raise ApprovalStateError(f"the workflow is no longer waiting ({_code(exc)})") from exc

    def fail(self, task_token: str, error: str, cause: str) -> None:
        try:
            self.sfn.send_task_failure(taskToken=task_token, error=error, cause=cause[:32000])
        except ClientError as exc:
            raise ApprovalStateError(f"the workflow is no longer waiting ({_code(exc)})") from exc


class SnsApproverNotifier:
    def __init__(self, topic_arn: str, *, client: Any | None = None) -> None:
        self.topic_arn = topic_arn
        self.sns = client or boto3.client("sns")

    def notify(self, subject: str, message: str, attributes: dict[str, str]) -> None:
        self.sns.publish(
            TopicArn=self.topic_arn,
            Subject=subject,
            Message=message,
            MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
        )
