"""The values the functions that run workflow use cases share (ledger, bucket, events, registry, approver session
roles), spelled by the settings mixins; each function takes the part its own model reads (``select_env``)."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from eksd_adopt.images.settings import TargetRegistrySettings
from eksd_adopt.workflow.config import ApprovalsSettings, DocumentsSettings, EventsSettings, LedgerSettings


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
    return {
        **LedgerSettings.to_env(ledger_table=ledger_table.table_name),
        **DocumentsSettings.to_env(bucket=bucket.bucket_name, prefix=prefix.strip("/")),
        **EventsSettings.to_env(events_topic_arn=events_topic.topic_arn),
        **TargetRegistrySettings.to_env(target_registry_url=registry_url(scope), target_registry_auth="ecr"),
        # Read with the stage rules by the gate and the decision endpoint: whose sessions count one by one.
        **ApprovalsSettings.to_env(approver_session_roles=approver_session_roles),
    }
