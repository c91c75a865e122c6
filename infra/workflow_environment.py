"""The environment every function that runs workflow use cases reads (``WorkflowSettings``): the workflow's steps
and the approvers' endpoint, which rolls back and resumes gates."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from eksd_adopt.workflow.config import WorkflowSettings


def registry_url(scope: Construct) -> str:
    """This stack's private ECR registry."""
    stack = cdk.Stack.of(scope)
    return f"https://{stack.account}.dkr.ecr.{stack.region}.{stack.url_suffix}"


def workflow_environment(
    scope: Construct,
    *,
    ledger_table: dynamodb.ITable,
    bucket: s3.IBucket,
    prefix: str,
    events_topic: sns.ITopic,
    approver_session_roles: tuple[str, ...],
) -> dict[str, str]:
    return WorkflowSettings.to_env(
        ledger_table=ledger_table.table_name,
        bucket=bucket.bucket_name,
        prefix=prefix.strip("/"),
        events_topic_arn=events_topic.topic_arn,
        target_registry_url=registry_url(scope),
        target_registry_auth="ecr",
        # Read with the stage rules by the gate and the decision endpoint: whose sessions count one by one.
        approver_session_roles=approver_session_roles,
    )
