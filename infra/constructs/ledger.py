"""The release ledger: one DynamoDB item per release, the source of truth for adoption state."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from eksd_adopt.ledger.dynamodb import CHANNEL_INDEX

# What the ledger's callers do with it (eksd_adopt.ledger.dynamodb): conditional puts and updates,
# consistent reads, the by-channel query and the status scan. Nothing deletes a release.
READ_ACTIONS = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:DescribeTable"]
WRITE_ACTIONS = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"]
KEY_ACTIONS = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]


class ReleaseLedger(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            enable_key_rotation=True,
            description="eksd-adopt release ledger",
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name="release_id", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=True,
            # The ledger is the record of what was adopted and approved: never deleted with the stack.
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.table.add_global_secondary_index(
            index_name=CHANNEL_INDEX,
            partition_key=dynamodb.Attribute(name="channel", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="number", type=dynamodb.AttributeType.NUMBER),
            projection_type=dynamodb.ProjectionType.ALL,
        )

    @property
    def index_arn(self) -> str:
        return f"{self.table.table_arn}/index/{CHANNEL_INDEX}"

    def grant_read(self, grantee: iam.IGrantable) -> None:
        self._grant(grantee, READ_ACTIONS)

    def grant_read_write(self, grantee: iam.IGrantable) -> None:
        self._grant(grantee, READ_ACTIONS + WRITE_ACTIONS)

    def _grant(self, grantee: iam.IGrantable, actions: list[str]) -> None:
        # Exact resources (the table and its one index), unlike Table.grant_*, which grants index/*.
        iam.Grant.add_to_principal(
            grantee=grantee, actions=actions, resource_arns=[self.table.table_arn, self.index_arn]
        )
        iam.Grant.add_to_principal(grantee=grantee, actions=KEY_ACTIONS, resource_arns=[self.key.key_arn])
