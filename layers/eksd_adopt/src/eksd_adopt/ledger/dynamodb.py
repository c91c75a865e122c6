"""The DynamoDB ledger (the only module here that touches boto3).

Table: partition key ``release_id``; GSI ``by-channel`` (``channel``, ``number``). Records are stored
as JSON-compatible attributes; conditional writes make creation idempotent and status moves safe.
"""

from __future__ import annotations

import builtins
import json
from typing import Any

import boto3
from botocore.exceptions import ClientError

from eksd_adopt.dynamodb import all_items
from eksd_adopt.ledger.model import Decision, ReleaseRecord, ReleaseStatus, utcnow
from eksd_adopt.ledger.store import LedgerConflictError, sort_records

CHANNEL_INDEX = "by-channel"


class DynamoDbLedger:
    def __init__(self, table_name: str, *, resource: Any | None = None) -> None:
        """``resource`` is a boto3 DynamoDB service resource; the default uses the ambient configuration."""
        self.table_name = table_name
        self.table = (resource or boto3.resource("dynamodb")).Table(table_name)

    @staticmethod
    def _to_item(record: ReleaseRecord) -> dict[str, Any]:
        # Round-trip through JSON so datetimes become strings; DynamoDB rejects floats, and we store none.
        item: dict[str, Any] = json.loads(record.model_dump_json())
        return {k: v for k, v in item.items() if v is not None}

    @staticmethod
    def _from_item(item: dict[str, Any]) -> ReleaseRecord:
        return ReleaseRecord.model_validate(json.loads(json.dumps(item, default=_decimal)))

    def create(self, record: ReleaseRecord) -> bool:
        try:
            self.table.put_item(Item=self._to_item(record), ConditionExpression="attribute_not_exists(release_id)")
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def get(self, release_id: str) -> ReleaseRecord | None:
        item = self.table.get_item(Key={"release_id": release_id}, ConsistentRead=True).get("Item")
        return self._from_item(item) if item else None

    def update(
        self,
        release_id: str,
        *,
        status: ReleaseStatus | None = None,
        expected: frozenset[ReleaseStatus] | None = None,
        **fields: Any,
    ) -> ReleaseRecord:
        changes: dict[str, Any] = {"updated_at": utcnow(), **fields}
        if status is not None:
            changes["status"] = status
        values = json.loads(ReleaseRecord.model_construct(**changes).model_dump_json(include=set(changes)))
        names = {f"#f{i}": name for i, name in enumerate(values)}
        expression = "SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(values)))
        attr_values: dict[str, Any] = {f":v{i}": value for i, value in enumerate(values.values())}
        condition = "attribute_exists(release_id)"
        if expected is not None:
            names["#status"] = "status"
            allowed = [f":s{i}" for i in range(len(expected))]
            attr_values.update({f":s{i}": s.value for i, s in enumerate(sorted(expected))})
            condition += f" AND #status IN ({', '.join(allowed)})"
        try:
            response = self.table.update_item(
                Key={"release_id": release_id},
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=attr_values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise LedgerConflictError(
                    f"release {release_id}: not in the ledger or not in one of {sorted(s.value for s in expected or [])}"
                ) from exc
            raise
        return self._from_item(response["Attributes"])

    def add_decision(self, release_id: str, decision: Decision) -> ReleaseRecord:
        response = self.table.update_item(
            Key={"release_id": release_id},
            UpdateExpression="SET decisions = list_append(if_not_exists(decisions, :empty), :d), updated_at = :now",
            ConditionExpression="attribute_exists(release_id)",
            ExpressionAttributeValues={
                ":d": [json.loads(decision.model_dump_json())],
                ":empty": [],
                ":now": utcnow().isoformat(),
            },
            ReturnValues="ALL_NEW",
        )
        return self._from_item(response["Attributes"])

    def add_message_id(self, release_id: str, message_id: str) -> None:
        try:
            self.table.update_item(
                Key={"release_id": release_id},
                UpdateExpression="SET message_ids = list_append(if_not_exists(message_ids, :empty), :m), announced = :t",
                ConditionExpression="attribute_exists(release_id) AND NOT contains(message_ids, :id)",
                ExpressionAttributeValues={":m": [message_id], ":empty": [], ":t": True, ":id": message_id},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def list(self, channel: str | None = None) -> list[ReleaseRecord]:
        if channel is None:
            return sort_records([self._from_item(i) for i in all_items(self.table.scan)])
        return sort_records([self._from_item(i) for i in all_items(self.table.query, **_by_channel(channel))])

    def newest(
        self,
        channel: str,
        *,
        statuses: frozenset[ReleaseStatus] | None = None,
        excluding: str | None = None,
        at_least: int | None = None,
    ) -> ReleaseRecord | None:
        # Newest first in small pages: the answer is nearly always among the channel's last few releases.
        # (A Limit counts the items read before the filter, so a page may come back empty: read on.)
        filtered = statuses is not None or excluding is not None
        query = _by_channel(channel, newest_first=True, limit=NEWEST_PAGE if filtered else 1)
        if at_least is not None:
            query["KeyConditionExpression"] += " AND #number >= :n"
            query["ExpressionAttributeNames"] = {"#number": "number"}
            query["ExpressionAttributeValues"][":n"] = at_least
        filters = []
        if statuses is not None:
            query.setdefault("ExpressionAttributeNames", {})["#status"] = "status"
            query["ExpressionAttributeValues"].update({f":s{i}": s.value for i, s in enumerate(sorted(statuses))})
            filters.append(f"#status IN ({', '.join(f':s{i}' for i in range(len(statuses)))})")
        if excluding is not None:
            query["ExpressionAttributeValues"][":x"] = excluding
            filters.append("release_id <> :x")
        if filters:
            query["FilterExpression"] = " AND ".join(filters)
        for item in all_items(self.table.query, **query):
            return self._from_item(item)
        return None

    def unstarted(self, channel: str | None = None) -> builtins.list[ReleaseRecord]:
        query = _by_channel(channel, newest_first=True) if channel is not None else {"ExpressionAttributeValues": {}}
        query["ExpressionAttributeNames"] = {"#status": "status"}
        query["ExpressionAttributeValues"].update(
            {":detected": ReleaseStatus.DETECTED.value, ":adopting": ReleaseStatus.ADOPTING.value, ":null": "NULL"}
        )
        # A forced re-adoption writes execution_arn as NULL before it starts: that is no execution either.
        query["FilterExpression"] = (
            "#status = :detected OR (#status = :adopting AND"
            " (attribute_not_exists(execution_arn) OR attribute_type(execution_arn, :null)))"
        )
        # All channels: one scan, filtered on the server (the table is one record per release: small).
        read = self.table.query if channel is not None else self.table.scan
        return sort_records([self._from_item(i) for i in all_items(read, **query)])


NEWEST_PAGE = 8


def _by_channel(channel: str, *, newest_first: bool = False, limit: int | None = None) -> dict[str, Any]:
    query: dict[str, Any] = {
        "IndexName": CHANNEL_INDEX,
        "KeyConditionExpression": "channel = :c",
        "ExpressionAttributeValues": {":c": channel},
        "ScanIndexForward": not newest_first,
    }
    if limit is not None:
        query["Limit"] = limit
    return query


def _decimal(value: Any) -> Any:
    # boto3 returns numbers as Decimal.
    return int(value) if value == int(value) else float(value)


def create_ledger_table(client: Any, name: str) -> None:
    """Create the table as ``infra/constructs/ledger.py`` declares it (for the local runtime and tests)."""
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "release_id", "AttributeType": "S"},
            {"AttributeName": "channel", "AttributeType": "S"},
            {"AttributeName": "number", "AttributeType": "N"},
        ],
        KeySchema=[{"AttributeName": "release_id", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": CHANNEL_INDEX,
                "KeySchema": [
                    {"AttributeName": "channel", "KeyType": "HASH"},
                    {"AttributeName": "number", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
