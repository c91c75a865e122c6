"""The approvals capability's data access: the approvals table, Step Functions callbacks, the approvers' topic.

The only module of the approvals package that touches boto3; AWS errors become domain errors here.
"""

from __future__ import annotations

import builtins
import json
from datetime import datetime
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from eksd_adopt.approvals.errors import ApprovalsReadError, ApprovalStateError
from eksd_adopt.approvals.models import ApprovalRequest, ApprovalStatus, ApprovalVote
from eksd_adopt.approvals.watch import PendingApproval
from eksd_adopt.dynamodb import all_items


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


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
        return [self._from_item(i) for i in all_items(self.table.scan, **kwargs)]

    def pending(self) -> builtins.list[PendingApproval]:
        """The open gates, as the watch needs them: the projection keeps task tokens out of the reader's memory
        and logs altogether."""
        projection = {
            "ProjectionExpression": "release_id, #stage, requested_at",
            "FilterExpression": "#status = :pending",
            "ExpressionAttributeNames": {"#stage": "stage", "#status": "status"},
            "ExpressionAttributeValues": {":pending": ApprovalStatus.PENDING.value},
        }
        try:
            return [PendingApproval.model_validate(i) for i in all_items(self.table.scan, **projection)]
        except (ClientError, BotoCoreError) as exc:
            raise ApprovalsReadError(f"cannot read the approvals table {self.table.name}: {exc}") from exc

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
