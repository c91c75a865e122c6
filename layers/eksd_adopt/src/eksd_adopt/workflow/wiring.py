"""Builds the production adapters a step needs from its settings (handlers call these, tests pass fakes)."""

from __future__ import annotations

from eksd_adopt.events import EventPublisher
from eksd_adopt.events.sns import SnsEventPublisher
from eksd_adopt.ledger import Ledger
from eksd_adopt.ledger.dynamodb import DynamoDbLedger
from eksd_adopt.workflow.aws import (
    DynamoDbApprovalStore,
    S3DocumentStore,
    SnsApproverNotifier,
    SsmReleasePointers,
    StepFunctionsCallbacks,
)
from eksd_adopt.workflow.config import WorkflowSettings


def ledger(settings: WorkflowSettings) -> Ledger:
    return DynamoDbLedger(settings.ledger_table)


def documents(settings: WorkflowSettings) -> S3DocumentStore:
    return S3DocumentStore(settings.bucket)


def publisher(settings: WorkflowSettings) -> EventPublisher:
    return SnsEventPublisher(settings.require("events_topic_arn"))


def pointers(settings: WorkflowSettings) -> SsmReleasePointers:
    return SsmReleasePointers()


def approvals(settings: WorkflowSettings) -> DynamoDbApprovalStore:
    return DynamoDbApprovalStore(settings.require("approvals_table"))


def callbacks(settings: WorkflowSettings) -> StepFunctionsCallbacks:
    return StepFunctionsCallbacks()


def notifier(settings: WorkflowSettings) -> SnsApproverNotifier:
    return SnsApproverNotifier(settings.require("approvers_topic_arn"))
