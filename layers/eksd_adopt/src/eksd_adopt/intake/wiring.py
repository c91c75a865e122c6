"""Builds the intake's production adapters from its settings (handlers and the CLI call this; tests pass fakes)."""

from __future__ import annotations

import httpx

from eksd_adopt.events import EventPublisher
from eksd_adopt.events.sns import SnsEventPublisher
from eksd_adopt.fetch import DocumentFetcher
from eksd_adopt.intake.aws import StepFunctionsWorkflowStarter
from eksd_adopt.intake.service import IntakeService
from eksd_adopt.intake.settings import IntakeSettings
from eksd_adopt.ledger.dynamodb import DynamoDbLedger
from eksd_adopt.policy import UpstreamPolicy
from eksd_adopt.retry import RetryPolicy

FETCH_TIMEOUT_SECONDS = 10.0


def http_client() -> httpx.Client:
    """The client upstream documents are fetched with; the caller closes it at the end of the invocation."""
    return httpx.Client(timeout=FETCH_TIMEOUT_SECONDS, follow_redirects=False)


def event_publisher(topic_arn: str | None) -> EventPublisher | None:
    return SnsEventPublisher(topic_arn) if topic_arn else None


def intake_service(settings: IntakeSettings, client: httpx.Client) -> IntakeService:
    policy = UpstreamPolicy.load(settings.policy_path) if settings.policy_path else UpstreamPolicy()
    policy = policy.model_copy(update={"topic_arn": settings.upstream_topic_arn})
    fetcher = DocumentFetcher(
        policy.manifest_hosts, settings.endpoint_map, client=client, retry=RetryPolicy(attempts=3, max_backoff=2.0)
    )
    return IntakeService(
        ledger=DynamoDbLedger(settings.ledger_table),
        starter=StepFunctionsWorkflowStarter(settings.state_machine_arn),
        fetcher=fetcher,
        publisher=event_publisher(settings.events_topic_arn),
        policy=policy,
        tracking=settings.tracking,
    )
