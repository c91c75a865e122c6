"""The intake use cases over in-memory adapters: one adoption per release, whatever the deliveries do."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest

from eksd_adopt.errors import FetchError
from eksd_adopt.events import EventType, InMemoryPublisher
from eksd_adopt.fetch import DocumentFetcher
from eksd_adopt.intake import (
    AdoptOutcome,
    AdoptRequest,
    IntakeService,
    InvalidManifestError,
    ManifestChangedError,
    ManifestNotPublishedError,
    WorkflowStartError,
)
from eksd_adopt.intake.models import INLINE_MANIFEST_MAX_BYTES, ChannelTracking
from eksd_adopt.intake.ports import InMemoryWorkflowStarter, StartedExecution
from eksd_adopt.intake.service import execution_name
from eksd_adopt.ledger import InMemoryLedger, ReleaseRecord, ReleaseStatus
from eksd_adopt.notification import ReleaseAnnouncement
from eksd_adopt.workflow.models import AdoptionInput
from tests.unit.intake.conftest import Clock, ScriptedCdn
from tests.unit.intake.support import channel_path, make_channel_file, make_manifest, manifest_path

URL_1_28_21 = "https://distro.eks.amazonaws.com/kubernetes-1-28/kubernetes-1-28-eks-21.yaml"


def announce(channel: str, number: int | None, message_id: str = "m-1") -> ReleaseAnnouncement:
    return ReleaseAnnouncement(channel=channel, number=number, message_id=message_id)


def test_announcement_starts_one_adoption_with_the_contract_input(
    service: IntakeService,
    cdn: ScriptedCdn,
    ledger: InMemoryLedger,
    starter: InMemoryWorkflowStarter,
    publisher: InMemoryPublisher,
) -> None:
    # Given the manifest of 1-28-21 on the CDN
    text = make_manifest("1-28", 21)
    cdn.put(manifest_path("1-28", 21), text)
    # When its announcement arrives
    result = service.handle_announcement(announce("1-28", 21))
    # Then one execution named after the release starts with the exact bytes and their digest
    assert result.outcome is AdoptOutcome.STARTED
    assert list(starter.executions) == ["adopt-1-28-21"]
    payload = starter.executions["adopt-1-28-21"]
    assert payload.manifest_yaml == text
    assert payload.manifest_sha256 == hashlib.sha256(text.encode()).hexdigest()
    assert payload.manifest_url == URL_1_28_21
    assert (payload.release_id, payload.channel, payload.number) == ("1-28-21", "1-28", 21)
    assert payload.kubernetes_version == "v1.28.4"
    assert payload.announced is True
    # The workflow's own input model accepts it field for field (the contract).
    assert AdoptionInput.model_validate(payload.model_dump()).model_dump() == payload.model_dump()
    record = ledger.get("1-28-21")
    assert record is not None
    assert record.status is ReleaseStatus.ADOPTING
    assert record.execution_arn == result.execution_arn
    assert record.execution_arn and record.execution_arn.endswith(":execution:eksd-adopt-release:adopt-1-28-21")
    assert record.manifest_sha256 == payload.manifest_sha256
    assert record.message_ids == ["m-1"] and record.announced
    assert [e.event_type for e in publisher.events] == [EventType.DETECTED]
    assert publisher.events[0].release_id == "1-28-21"


def test_a_manifest_too_large_to_travel_in_the_input_is_left_for_validate_to_fetch(
    service: IntakeService, cdn: ScriptedCdn, starter: InMemoryWorkflowStarter
) -> None:
    # Given a manifest over the inline limit (StartExecution refuses inputs over 256 KiB)
    text = make_manifest("1-28", 21) + "".join(f"# padding {i:06d} {'x' * 100}\n" for i in range(1400))
    assert len(text.encode()) > INLINE_MANIFEST_MAX_BYTES
    cdn.put(manifest_path("1-28", 21), text)
    # When its announcement arrives
    service.handle_announcement(announce("1-28", 21))
    # Then the execution starts without the text, with the digest Validate checks the fetched bytes against
    payload = starter.executions["adopt-1-28-21"]
    assert payload.manifest_yaml is None
    assert payload.manifest_sha256 == hashlib.sha256(text.encode()).hexdigest()
    assert len(payload.model_dump_json().encode()) < 1024
    assert AdoptionInput.model_validate(payload.model_dump()).manifest_yaml is None


def test_redelivery_and_a_second_message_start_nothing_more(
    service: IntakeService, cdn: ScriptedCdn, ledger: InMemoryLedger, starter: InMemoryWorkflowStarter
) -> None:
    cdn.put(manifest_path("1-28", 21), make_manifest("1-28", 21))
    service.handle_announcement(announce("1-28", 21, "m-1"))
    again = service.handle_announcement(announce("1-28", 21, "m-1"))
    other = service.handle_announcement(announce("1-28", 21, "m-2"))
    assert again.outcome is other.outcome is AdoptOutcome.ALREADY_KNOWN
    assert starter.calls == 1
    record = ledger.get("1-28-21")
    assert record is not None and record.message_ids == ["m-1", "m-2"]
    assert again.execution_arn == record.execution_arn


def test_two_deliveries_at_once_start_one_execution(
    make_service: Callable[..., IntakeService],
    cdn: ScriptedCdn,
    ledger: InMemoryLedger,
    starter: InMemoryWorkflowStarter,
) -> None:
    # Both deliveries fetch the manifest before either writes the ledger: the conditional create decides.
    cdn.put(manifest_path("1-30", 58), make_manifest("1-30", 58))
    barrier = threading.Barrier(2, timeout=5)
    cdn.before_reply = lambda path: barrier.wait()
    services = [make_service(), make_service()]
    results = {}

    def deliver(i: int) -> None:
        results[i] = services[i].handle_announcement(announce("1-30", 58, f"m-{i}"))

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    outcomes = sorted(r.outcome.value for r in results.values())
    assert outcomes == ["already_known", "started"]
    assert starter.calls == 1 and list(starter.executions) == ["adopt-1-30-58"]
    record = ledger.get("1-30-58")
    assert record is not None and sorted(record.message_ids) == ["m-0", "m-1"]


def test_channel_only_announcement_adopts_the_channel_latest_release(
    service: IntakeService, cdn: ScriptedCdn, starter: InMemoryWorkflowStarter
) -> None:
    cdn.put(channel_path("1-19"), make_channel_file("1-19", 1))
    cdn.put(manifest_path("1-19", 1), make_manifest("1-19", 1))
    result = service.handle_announcement(announce("1-19", None))
    assert result.outcome is AdoptOutcome.STARTED
    assert list(starter.executions) == ["adopt-1-19-1"]


def test_older_release_is_superseded_unless_forced(
    make_service: Callable[..., IntakeService],
    cdn: ScriptedCdn,
    ledger: InMemoryLedger,
    starter: InMemoryWorkflowStarter,
    clock: Clock,
) -> None:
    service = make_service(clock=clock)
    for n in (57, 58):
        cdn.put(manifest_path("1-30", n), make_manifest("1-30", n))
    service.handle_announcement(announce("1-30", 58, "m-58"))
    result = service.handle_announcement(announce("1-30", 57, "m-57"))
    assert result.outcome is AdoptOutcome.SUPERSEDED
    assert "1-30-58 is already adopted" in result.problems[0]
    record = ledger.get("1-30-57")
    assert record is not None and record.status is ReleaseStatus.SUPERSEDED and record.message_ids == ["m-57"]
    assert list(starter.executions) == ["adopt-1-30-58"]
    # Forced by an operator: a fresh execution name, the record back to adopting.
    forced = service.adopt(AdoptRequest(channel="1-30", number=57, force=True))
    assert forced.outcome is AdoptOutcome.STARTED
    expected = execution_name("1-30-57", forced_at=clock.now)
    assert forced.execution_name == expected == f"adopt-1-30-57-r{int(clock.now.timestamp())}"
    assert expected in starter.executions
    record = ledger.get("1-30-57")
    assert record is not None and record.status is ReleaseStatus.ADOPTING and record.problems == []


def test_invalid_manifest_is_recorded_with_every_problem_and_not_started(
    service: IntakeService, cdn: ScriptedCdn, ledger: InMemoryLedger, starter: InMemoryWorkflowStarter
) -> None:
    # Two independent problems: an image from a registry that is not allowed, and an archive without sha256.
    text = make_manifest("1-28", 21)
    text = text.replace("public.ecr.aws/eks-distro/kubernetes/kube-apiserver", "evil.example.com/kube-apiserver", 1)
    text = text.replace("sha256: ", "sha256x: ", 1)
    cdn.put(manifest_path("1-28", 21), text)
    result = service.handle_announcement(announce("1-28", 21))
    assert result.outcome is AdoptOutcome.INVALID
    assert len(result.problems) >= 2
    assert any("evil.example.com" in p for p in result.problems)
    assert any("sha256x" in p for p in result.problems)
    record = ledger.get("1-28-21")
    assert record is not None and record.status is ReleaseStatus.INVALID and record.problems == result.problems
    assert record.manifest_sha256 == hashlib.sha256(text.encode()).hexdigest()
    assert starter.calls == 0
    # A redelivery validates again (the CDN might have served a bad copy) and still starts nothing.
    again = service.handle_announcement(announce("1-28", 21, "m-2"))
    assert again.outcome is AdoptOutcome.INVALID and starter.calls == 0
    # Once the CDN serves a good copy, the invalid record is claimed and the adoption starts.
    cdn.put(manifest_path("1-28", 21), make_manifest("1-28", 21))
    fixed = service.handle_announcement(announce("1-28", 21, "m-3"))
    assert fixed.outcome is AdoptOutcome.STARTED
    record = ledger.get("1-28-21")
    assert record is not None and record.problems == [] and record.message_ids == ["m-1", "m-2", "m-3"]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (make_manifest("1-28", 20), "is release 1-28-20, not 1-28-21"),
        ("not: [valid", "YAML"),
        ("- a list\n- not a release\n", "mapping"),
    ],
    ids=["other-release", "not-yaml", "not-a-mapping"],
)
def test_wrong_or_unreadable_manifest_is_invalid(
    service: IntakeService, cdn: ScriptedCdn, starter: InMemoryWorkflowStarter, body: str, needle: str
) -> None:
    cdn.put(manifest_path("1-28", 21), body)
    result = service.handle_announcement(announce("1-28", 21))
    assert result.outcome is AdoptOutcome.INVALID
    assert any(needle in p for p in result.problems), result.problems
    assert starter.calls == 0


def test_not_published_yet_is_retried_then_left_to_the_reconciler(
    make_service: Callable[..., IntakeService], ledger: InMemoryLedger, clock: Clock, starter: InMemoryWorkflowStarter
) -> None:
    service = make_service(clock=clock)
    until = clock.now + timedelta(minutes=15)
    # Within the window a 404 raises, so the message comes back later; nothing is written.
    with pytest.raises(ManifestNotPublishedError, match="1-28-21"):
        service.handle_announcement(announce("1-28", 21), retry_not_found_until=until)
    assert ledger.get("1-28-21") is None
    # After the window the release is left detected, with the reason, for the reconciler.
    clock.advance(16 * 60)
    result = service.handle_announcement(announce("1-28", 21), retry_not_found_until=until)
    assert result.outcome is AdoptOutcome.NOT_FOUND
    record = ledger.get("1-28-21")
    assert record is not None and record.status is ReleaseStatus.DETECTED and record.announced
    assert "404" in record.problems[0]
    assert starter.calls == 0


def test_channel_file_missing_is_retried_like_a_manifest(
    make_service: Callable[..., IntakeService], clock: Clock
) -> None:
    service = make_service(clock=clock)
    with pytest.raises(ManifestNotPublishedError, match=r"releasechannels/1-37\.yaml"):
        service.handle_announcement(announce("1-37", None), retry_not_found_until=clock.now + timedelta(seconds=60))
    result = service.handle_announcement(announce("1-37", None), retry_not_found_until=clock.now)
    assert result.outcome is AdoptOutcome.NOT_FOUND


class FlakyStarter(InMemoryWorkflowStarter):
    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def start(self, name: str, workflow_input: object) -> StartedExecution:  # type: ignore[override]
        if self.failures:
            self.failures -= 1
            raise WorkflowStartError("ThrottlingException")
        return super().start(name, workflow_input)  # type: ignore[arg-type]


def test_failed_start_is_resumed_by_the_redelivered_message(cdn: ScriptedCdn, ledger: InMemoryLedger) -> None:
    starter = FlakyStarter(failures=1)
    fetcher = DocumentFetcher(
        ["distro.eks.amazonaws.com"], client=httpx.Client(transport=httpx.MockTransport(cdn.handle))
    )
    service = IntakeService(ledger=ledger, starter=starter, fetcher=fetcher)
    cdn.put(manifest_path("1-28", 21), make_manifest("1-28", 21))
    with pytest.raises(WorkflowStartError):
        service.handle_announcement(announce("1-28", 21, "m-1"))
    record = ledger.get("1-28-21")
    assert record is not None and record.status is ReleaseStatus.ADOPTING and record.execution_arn is None
    # Another message for the release does not start it (the claimant may still be starting it)...
    assert service.handle_announcement(announce("1-28", 21, "m-2")).outcome is AdoptOutcome.ALREADY_KNOWN
    assert starter.executions == {}
    # ...but the claimant's own redelivery does, under the same name.
    resumed = service.handle_announcement(announce("1-28", 21, "m-1"))
    assert resumed.outcome is AdoptOutcome.STARTED and list(starter.executions) == ["adopt-1-28-21"]
    record = ledger.get("1-28-21")
    assert record is not None and record.execution_arn == resumed.execution_arn


def test_resume_refuses_a_manifest_that_changed(
    service: IntakeService, cdn: ScriptedCdn, ledger: InMemoryLedger
) -> None:
    ledger.create(
        ReleaseRecord(
            release_id="1-28-21",
            channel="1-28",
            number=21,
            status=ReleaseStatus.ADOPTING,
            manifest_sha256="0" * 64,
            message_ids=["m-1"],
        )
    )
    cdn.put(manifest_path("1-28", 21), make_manifest("1-28", 21))
    with pytest.raises(ManifestChangedError, match="hashes to"):
        service.handle_announcement(announce("1-28", 21, "m-1"))


def test_untracked_channel_is_acknowledged_and_not_recorded(
    make_service: Callable[..., IntakeService], ledger: InMemoryLedger
) -> None:
    service = make_service(tracking=ChannelTracking(from_minor="1-30"))
    result = service.handle_announcement(announce("1-28", 21))
    assert result.outcome is AdoptOutcome.UNTRACKED and result.release_id == "1-28-21"
    assert ledger.list() == []
    assert ChannelTracking(explicit=("1-31",)).tracks("1-31") and not ChannelTracking(explicit=("1-31",)).tracks("1-30")
    assert ChannelTracking(from_minor="1-9").tracks("1-10")  # numeric, not string, order


def test_adopt_by_manifest_url_reads_the_release_from_the_manifest(
    service: IntakeService, cdn: ScriptedCdn, starter: InMemoryWorkflowStarter, ledger: InMemoryLedger
) -> None:
    cdn.put(manifest_path("1-30", 58), make_manifest("1-30", 58))
    url = "https://distro.eks.amazonaws.com" + manifest_path("1-30", 58)
    result = service.adopt(AdoptRequest(manifest_url=url))
    assert result.outcome is AdoptOutcome.STARTED and list(starter.executions) == ["adopt-1-30-58"]
    record = ledger.get("1-30-58")
    assert record is not None and not record.announced


def test_adopt_by_url_refuses_other_hosts_and_nameless_manifests(
    service: IntakeService, cdn: ScriptedCdn, ledger: InMemoryLedger
) -> None:
    with pytest.raises(FetchError, match="not allow-listed"):
        service.adopt(AdoptRequest(manifest_url="https://evil.example.com/kubernetes-1-30-eks-58.yaml"))
    cdn.put("/x.yaml", "apiVersion: distro.eks.amazonaws.com/v1alpha1\nkind: Release\n")
    with pytest.raises(InvalidManifestError, match="spec"):
        service.adopt(AdoptRequest(manifest_url="https://distro.eks.amazonaws.com/x.yaml"))
    assert ledger.list() == []  # nothing half-written


def test_request_must_name_a_release() -> None:
    with pytest.raises(ValueError, match="channel and number"):
        AdoptRequest(channel="1-30")
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        AdoptRequest(channel="1-30", number=0)
