"""Reads the open gates of the approvals table: key, stage and request time only (never the task token)."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from eksd_adopt.errors import EksdAdoptError
from eksd_adopt.monitoring.approvals import PendingApproval


class ApprovalsReadError(EksdAdoptError):
    """The approvals table could not be read."""


class DynamoDbPendingApprovals:
    """Scans the approvals table for ``status = pending``, projecting only what the watch needs."""

    def __init__(self, table_name: str, *, client: Any | None = None) -> None:
        self.table_name = table_name
        self.client = client or boto3.client("dynamodb")

    def list(self) -> list[PendingApproval]:
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            # The projection keeps task tokens out of this function's memory and logs altogether.
            "ProjectionExpression": "release_id, #stage, requested_at",
            "FilterExpression": "#status = :pending",
            "ExpressionAttributeNames": {"#stage": "stage", "#status": "status"},
            "ExpressionAttributeValues": {":pending": {"S": "pending"}},
        }
        gates: list[PendingApproval] = []
        try:
            while True:
                page = self.client.scan(**kwargs)
                gates.extend(
                    PendingApproval(
                        release_id=item["release_id"]["S"],
                        stage=item["stage"]["S"],
                        requested_at=item["requested_at"]["S"],
                    )
                    for item in page.get("Items", [])
                )
                if "LastEvaluatedKey" not in page:
                    return gates
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        except (ClientError, BotoCoreError) as exc:
            raise ApprovalsReadError(f"cannot read the approvals table {self.table_name}: {exc}") from exc
