"""Builds the production adapters a step needs from its settings (handlers call these, tests pass fakes)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING

import httpx

from eksd_adopt.approvals.aws import DynamoDbApprovalStore, SnsApproverNotifier, StepFunctionsCallbacks
from eksd_adopt.archives.s3store import S3ArchiveStore, s3_client
from eksd_adopt.events import EventPublisher
from eksd_adopt.events.sns import SnsEventPublisher
from eksd_adopt.fetch import DocumentFetcher
from eksd_adopt.ledger import Ledger
from eksd_adopt.ledger.dynamodb import DynamoDbLedger
from eksd_adopt.policy import UpstreamPolicy
from eksd_adopt.settings import EnvSettings, UpstreamAccessSettings
from eksd_adopt.workflow.aws import LambdaRollbackRecorder, SsmReleasePointers
from eksd_adopt.workflow.config import (
    ApprovalsApiSettings,
    ApprovalsSettings,
    DocumentsSettings,
    EventsSettings,
    LedgerSettings,
    PromoteSettings,
)
from eksd_adopt.workflow.documents import BucketDocuments
from eksd_adopt.workflow.records import Recording

if TYPE_CHECKING:
    from eksd_adopt.workflow.promotion import PromotionResult
    from eksd_adopt.workflow.state import PromotionState


def ledger(settings: LedgerSettings) -> Ledger:
    return DynamoDbLedger(settings.ledger_table)


def _bucket(name: str) -> S3ArchiveStore:
    return S3ArchiveStore(name, client=s3_client())


def documents(settings: DocumentsSettings) -> BucketDocuments:
    return BucketDocuments(settings.bucket, _bucket)


def publisher(settings: EventsSettings) -> EventPublisher:
    return SnsEventPublisher(settings.require("events_topic_arn"))


def document_reader() -> BucketDocuments:
    """Reads documents by location (a mirror function reading the plan has no bucket setting of its own)."""
    return BucketDocuments(None, _bucket)


def pointers(settings: EnvSettings) -> SsmReleasePointers:
    return SsmReleasePointers()


def approvals(settings: ApprovalsSettings) -> DynamoDbApprovalStore:
    return DynamoDbApprovalStore(settings.require("approvals_table"))


def callbacks(settings: EnvSettings) -> StepFunctionsCallbacks:
    return StepFunctionsCallbacks()


def notifier(settings: ApprovalsSettings) -> SnsApproverNotifier:
    return SnsApproverNotifier(settings.require("approvers_topic_arn"))


def recording(settings: PromoteSettings) -> Recording:
    """The adoption record's signer (KMS), bucket and registry: the promotion function's alone."""
    from eksd_adopt.attestation.kms import KmsPublicKey, KmsSigner, kms_client
    from eksd_adopt.attestation.registry import RegistryReferrers
    from eksd_adopt.images.registry import connect_target

    key_arn = settings.require("attestation_key_arn")
    kms = kms_client()
    return Recording(
        bucket=_bucket(settings.bucket),
        signer=KmsSigner(key_arn, client=kms),
        public_key=cache(KmsPublicKey(key_arn, client=kms).load),
        referrers=RegistryReferrers(connect_target(settings).client),
        prefix=settings.prefix,
        registry_host=settings.registry_host,
    )


def rollback_records(settings: ApprovalsApiSettings) -> LambdaRollbackRecorder:
    """A rollback's record, written by the promotion function (the approvers' endpoint may not sign)."""
    return LambdaRollbackRecorder(settings.require("promote_function"))


FETCH_TIMEOUT_SECONDS = 10.0


@contextmanager
def upstream_manifests(
    access: UpstreamAccessSettings,
) -> Iterator[tuple[UpstreamPolicy, Callable[[str, int], bytes]]]:
    """The upstream policy and a fetch of a manifest by URL (allow-listed HTTPS, size-capped), for one invocation."""
    policy = UpstreamPolicy.load(access.policy_path) if access.policy_path else UpstreamPolicy()
    with httpx.Client(timeout=FETCH_TIMEOUT_SECONDS, follow_redirects=False) as client:
        fetcher = DocumentFetcher(policy.manifest_hosts, access.endpoint_map, client=client)
        yield policy, lambda url, max_bytes: fetcher.fetch(url, max_bytes=max_bytes)


def promote_state(settings: PromoteSettings, state: PromotionState) -> PromotionResult:
    """Promote the release ``state`` names into its stage with the production adapters."""
    from eksd_adopt.workflow import artifacts
    from eksd_adopt.workflow.promotion import Attestation, promote

    store = documents(settings)
    return promote(
        state.release,
        state.copy_plan(store),
        state.staged_images(store),
        state.stage,
        promoter=artifacts.promoter(settings),
        store=store,
        pointers=pointers(settings),
        ledger=ledger(settings),
        publisher=publisher(settings),
        registry_host=settings.registry_host,
        attestation=Attestation(
            evidence=state.evidence(), recording=recording(settings), approvals=approvals(settings)
        ),
    )
