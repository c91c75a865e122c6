"""The reconciler: releases and minors no notification announced are found, started once, and counted."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from eksd_adopt.events import EventType, InMemoryPublisher
from eksd_adopt.intake import AdoptOutcome, IntakeService, StartedExecution, WorkflowStartError
from eksd_adopt.intake.models import ChannelTracking
from eksd_adopt.intake.ports import InMemoryWorkflowStarter
from eksd_adopt.ledger import InMemoryLedger, ReleaseRecord, ReleaseStatus
from eksd_adopt.notification import ReleaseAnnouncement
from eksd_adopt.workflow.models import AdoptionInput
from tests.unit.intake.conftest import Clock, ScriptedCdn
from tests.unit.intake.support import channel_path, make_channel_file, make_manifest, manifest_path

NO_GRACE = timedelta(0)


def publish(cdn: ScriptedCdn, channel: str, latest: int, *, numbers: tuple[int, ...] = (), active: bool = True) -> None:
    cdn.put(channel_path(channel), make_channel_file(channel, latest, active=active))
    for n in numbers or (latest,):
        cdn.put(manifest_path(channel, n), make_manifest(channel, n))


def test_finds_an_unannounced_release_and_a_new_minor(
    make_service: Callable[..., IntakeService],
    cdn: ScriptedCdn,
    ledger: InMemoryLedger,
    starter: InMemoryWorkflowStarter,
    publisher: InMemoryPublisher,
) -> None:
    # Given 1-30 adopted up to 57, and upstream at 1-30-58 plus a brand-new 1-31 (first release 1)
    ledger.create(ReleaseRecord(release_id="1-30-57", channel="1-30", number=57, status=ReleaseStatus.PROMOTED))
    publish(cdn, "1-30", 58)
    publish(cdn, "1-31", 1)
    service = make_service(tracking=ChannelTracking(from_minor="1-30"))
    # When the reconciler runs
    report = service.reconcile(grace=NO_GRACE)
    # Then both are started, counted as missed notifications, and the probe stopped at 1-32
    assert [c.channel for c in report.channels] == ["1-30", "1-31"]
    assert sorted(report.started) == ["1-30-58", "1-31-1"]
    assert sorted(report.missed) == ["1-30-58", "1-31-1"]
    assert sorted(starter.executions) == ["adopt-1-30-58", "adopt-1-31-1"]
    assert all(not e.announced for e in starter.executions.values())
    assert channel_path("1-32") in cdn.requests and channel_path("1-33") not in cdn.requests
    missed = sorted(e.release_id for e in publisher.events if e.event_type is EventType.NOTIFICATION_MISSED)
    assert missed == ["1-30-58", "1-31-1"]
    assert report.errors == {}
    # A second run finds nothing new and starts nothing.
    again = service.reconcile(grace=NO_GRACE)
    assert again.detected == [] and again.results == [] and starter.calls == 2


def test_gap_releases_are_superseded_by_the_latest(
    make_service: Callable[..., IntakeService],
    cdn: ScriptedCdn,
    ledger: InMemoryLedger,
    starter: InMemoryWorkflowStarter,
) -> None:
    ledger.create(ReleaseRecord(release_id="1-30-55", channel="1-30", number=55, status=ReleaseStatus.PROMOTED))
    publish(cdn, "1-30", 58, numbers=(56, 57, 58))
    report = make_service(tracking=ChannelTracking(explicit=("1-30",))).reconcile(grace=NO_GRACE)
    assert report.detected == ["1-30-56", "1-30-57", "1-30-58"]
    assert list(starter.executions) == ["adopt-1-30-58"]
    statuses = {r.release_id: r.status for r in ledger.list("1-30")}
    assert statuses["1-30-56"] is statuses["1-30-57"] is ReleaseStatus.SUPERSEDED
    assert sorted(report.missed) == ["1-30-56", "1-30-57", "1-30-58"]


def test_a_new_channel_is_not_back_filled(
    make_service: Callable[..., IntakeService], cdn: ScriptedCdn, ledger: InMemoryLedger
) -> None:
    publish(cdn, "1-33", 12)
    report = make_service(tracking=ChannelTracking(explicit=("1-33",))).reconcile(grace=NO_GRACE)
    assert report.detected == ["1-33-12"]
    assert [r.release_id for r in ledger.list()] == ["1-33-12"]


def test_grace_lets_a_late_notification_claim_the_release(
    make_service: Callable[..., IntakeService],
    cdn: ScriptedCdn,
    ledger: InMemoryLedger,
    starter: InMemoryWorkflowStarter,
    clock: Clock,
) -> None:
    service = make_service(tracking=ChannelTracking(explicit=("1-30",)), clock=clock)
    publish(cdn, "1-30", 58)
    # First sight: recorded detected, not started while the notification may still be on its way.
    first = service.reconcile(grace=timedelta(minutes=10))
    assert first.detected == ["1-30-58"] and first.results == [] and starter.calls == 0
    record = ledger.get("1-30-58")
    assert record is not None and record.status is ReleaseStatus.DETECTED
    # The notification arrives and claims it: announced, started once.
    result = service.handle_announcement(ReleaseAnnouncement(channel="1-30", number=58, message_id="m-1"))
    assert result.outcome is AdoptOutcome.STARTED and result.announced
    # Later runs do not count it as missed or start it again.
    clock.advance(3600)
    later = service.reconcile(grace=timedelta(minutes=10))
    assert later.missed == [] and later.results == [] and starter.calls == 1


def test_detected_release_is_started_after_the_grace(
    make_service: Callable[..., IntakeService], cdn: ScriptedCdn, starter: InMemoryWorkflowStarter, clock: Clock
) -> None:
    service = make_service(tracking=ChannelTracking(explicit=("1-30",)), clock=clock)
    publish(cdn, "1-30", 58)
    service.reconcile(grace=timedelta(minutes=10))
    clock.advance(11 * 60)
    report = service.reconcile(grace=timedelta(minutes=10))
    assert report.started == ["1-30-58"] and report.missed == ["1-30-58"] and starter.calls == 1


def test_inactive_channels_and_unreadable_files(
    make_service: Callable[..., IntakeService], cdn: ScriptedCdn, starter: InMemoryWorkflowStarter
) -> None:
    publish(cdn, "1-30", 58, active=False)
    cdn.put(channel_path("1-31"), "kind: Release\nstatus: {latestRelease: 3}\n")
    cdn.put(channel_path("1-32"), make_channel_file("1-32", 1).replace("latestRelease: 1", "latestRelease: 0"))
    report = make_service(tracking=ChannelTracking(explicit=("1-30", "1-31", "1-32", "1-33"))).reconcile(grace=NO_GRACE)
    assert starter.calls == 0
    assert [c.channel for c in report.channels] == ["1-30"] and not report.channels[0].active
    assert "not ReleaseChannel" in report.errors["1-31"]
    assert "latestRelease" in report.errors["1-32"]
    assert "404" in report.errors["1-33"]  # an explicitly tracked channel that does not exist is an error


def test_manifest_missing_leaves_the_release_detected_for_the_next_run(
    make_service: Callable[..., IntakeService],
    cdn: ScriptedCdn,
    ledger: InMemoryLedger,
    starter: InMemoryWorkflowStarter,
) -> None:
    cdn.put(channel_path("1-30"), make_channel_file("1-30", 58))  # the channel file is ahead of the manifest
    service = make_service(tracking=ChannelTracking(explicit=("1-30",)))
    report = service.reconcile(grace=NO_GRACE)
    assert [r.outcome for r in report.results] == [AdoptOutcome.NOT_FOUND] and report.missed == []
    record = ledger.get("1-30-58")
    assert record is not None and record.status is ReleaseStatus.DETECTED
    cdn.put(manifest_path("1-30", 58), make_manifest("1-30", 58))
    assert service.reconcile(grace=NO_GRACE).started == ["1-30-58"]
    assert starter.calls == 1


def test_no_tracking_configured_is_reported() -> None:
    from eksd_adopt.fetch import DocumentFetcher

    service = IntakeService(
        ledger=InMemoryLedger(),
        starter=InMemoryWorkflowStarter(),
        fetcher=DocumentFetcher(["distro.eks.amazonaws.com"]),
    )
    assert "no channels are tracked" in service.reconcile().errors["configuration"]


def test_a_claim_whose_start_failed_counts_as_missed_when_a_later_run_starts_it(
    make_service: Callable[..., IntakeService],
    cdn: ScriptedCdn,
    ledger: InMemoryLedger,
    starter: InMemoryWorkflowStarter,
    publisher: InMemoryPublisher,
    clock: Clock,
) -> None:
    # Given an unannounced release the reconciler claimed while StartExecution was throttled
    publish(cdn, "1-30", 58)
    service = make_service(tracking=ChannelTracking(explicit=("1-30",)), clock=clock)
    throttled = starter.start

    def throttle(name: str, workflow_input: AdoptionInput) -> StartedExecution:
        raise WorkflowStartError(f"cannot start {name}: ThrottlingException")

    starter.start = throttle  # type: ignore[method-assign]
    first = service.reconcile(grace=NO_GRACE)
    assert first.missed == [] and "1-30-58" in first.errors
    assert ledger.get("1-30-58").status is ReleaseStatus.ADOPTING  # type: ignore[union-attr]
    # When a later run finds the claim stale and starts it
    starter.start = throttled  # type: ignore[method-assign]
    clock.advance(16 * 60)
    second = service.reconcile(grace=NO_GRACE)
    # Then it is counted as a missed notification then, once
    assert second.started == ["1-30-58"] and second.missed == ["1-30-58"]
    missed = [e.release_id for e in publisher.events if e.event_type is EventType.NOTIFICATION_MISSED]
    assert missed == ["1-30-58"]
    clock.advance(16 * 60)
    assert service.reconcile(grace=NO_GRACE).missed == []


def test_a_notification_after_the_reconcilers_failed_start_does_not_uncount_it(
    make_service: Callable[..., IntakeService],
    cdn: ScriptedCdn,
    ledger: InMemoryLedger,
    starter: InMemoryWorkflowStarter,
    clock: Clock,
) -> None:
    # Given an unannounced release the reconciler started, losing StartExecution's answer (the run failed)
    publish(cdn, "1-36", 5)
    service = make_service(tracking=ChannelTracking(explicit=("1-36",)), clock=clock)
    started = starter.start

    def answer_lost(name: str, workflow_input: AdoptionInput) -> StartedExecution:
        started(name, workflow_input)
        raise WorkflowStartError(f"cannot start {name}: read timeout")

    starter.start = answer_lost  # type: ignore[method-assign]
    assert service.reconcile(grace=NO_GRACE).missed == []
    starter.start = started  # type: ignore[method-assign]
    # When its notification arrives before the next run (the claim is young: nothing more starts)
    clock.advance(60)
    late = service.handle_announcement(ReleaseAnnouncement(channel="1-36", number=5, message_id="m-1"))
    assert late.outcome is AdoptOutcome.ALREADY_KNOWN and ledger.get("1-36-5").announced  # type: ignore[union-attr]
    clock.advance(15 * 60)
    # Then the run that completes the start counts it: the reconciler found it before any notification
    report = service.reconcile(grace=NO_GRACE)
    assert report.started == ["1-36-5"] and report.missed == ["1-36-5"]
    assert list(starter.executions) == ["adopt-1-36-5"]
