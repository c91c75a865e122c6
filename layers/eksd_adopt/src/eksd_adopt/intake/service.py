"""Intake use cases: an announcement, a reconciler pass or an operator's request becomes at most one adoption.

The ledger decides. A release is claimed by a conditional write (create, or ``detected``/``invalid``
-> ``adopting``) *before* the workflow starts, so of two deliveries racing for one release exactly
one starts it; the execution name ``adopt-<release_id>`` makes even a repeated start harmless
(Step Functions refuses a second execution of the same name, which counts as success). No boto3
and no event shapes here: the ledger, the workflow starter, the fetcher and the publisher come in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from eksd_adopt.errors import EksdAdoptError, FetchError, ManifestError, UpstreamNotFoundError
from eksd_adopt.events import EventPublisher, EventType, make_event
from eksd_adopt.fetch import DocumentFetcher, manifest_url, release_channel_url
from eksd_adopt.intake.errors import InvalidManifestError, ManifestChangedError, ManifestNotPublishedError
from eksd_adopt.intake.models import (
    INLINE_MANIFEST_MAX_BYTES,
    AdoptOutcome,
    AdoptRequest,
    AdoptResult,
    ChannelTracking,
    ChannelView,
    ReconcileReport,
)
from eksd_adopt.intake.ports import WorkflowStarter
from eksd_adopt.ledger import Ledger, LedgerConflictError, ReleaseRecord, ReleaseStatus
from eksd_adopt.ledger.model import STARTED_STATUSES, utcnow
from eksd_adopt.notification import ReleaseAnnouncement
from eksd_adopt.observability import domain_logger
from eksd_adopt.policy import UpstreamPolicy
from eksd_adopt.release import ReleaseChannel, validate_manifest
from eksd_adopt.release.yamlsafe import load_yaml_document
from eksd_adopt.workflow.models import AdoptionInput

_log = domain_logger()

MAX_CHANNEL_FILE_BYTES = 64 * 1024
# Statuses a new attempt may take over: heard of but not started, or a manifest that failed validation.
CLAIMABLE = frozenset({ReleaseStatus.DETECTED, ReleaseStatus.INVALID})
# An ``adopting`` record with no execution ARN this old means the start failed; anyone may resume it.
STALE_START = timedelta(minutes=5)


def execution_name(release_id: str, *, forced_at: datetime | None = None) -> str:
    """``adopt-<release_id>``; a forced re-adoption appends ``-r<unix seconds>`` so it gets a fresh name."""
    name = f"adopt-{release_id}"
    return f"{name}-r{int(forced_at.timestamp())}" if forced_at is not None else name


def channel_key(channel: str) -> tuple[int, int]:
    major, _, minor = channel.partition("-")
    return int(major), int(minor)


class IntakeService:
    """The intake's use cases over injected adapters (ledger, workflow starter, fetcher, event publisher)."""

    def __init__(
        self,
        *,
        ledger: Ledger,
        starter: WorkflowStarter,
        fetcher: DocumentFetcher,
        publisher: EventPublisher | None = None,
        policy: UpstreamPolicy | None = None,
        tracking: ChannelTracking | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.ledger = ledger
        self.starter = starter
        self.fetcher = fetcher
        self.publisher = publisher
        self.policy = policy or UpstreamPolicy()
        self.tracking = tracking or ChannelTracking()
        self.clock = clock
        self.host = self.policy.manifest_hosts[0]

    # ----- announcements ---------------------------------------------------------------------------
    def handle_announcement(
        self, announcement: ReleaseAnnouncement, *, retry_not_found_until: datetime | None = None
    ) -> AdoptResult:
        """Adopt what a notification names; a channel-only message means the channel's latest release."""
        if not self.tracking.tracks(announcement.channel):
            name = announcement.release_id or f"{announcement.channel}-latest"
            return AdoptResult(release_id=name, outcome=AdoptOutcome.UNTRACKED, announced=True)
        number = announcement.number
        if number is None:
            try:
                number = self.read_channel(announcement.channel).latest_release
            except UpstreamNotFoundError as exc:
                if retry_not_found_until is not None and self.clock() < retry_not_found_until:
                    raise ManifestNotPublishedError(str(exc)) from exc
                _log.warning(
                    "channel file still missing; leaving the release to the reconciler", extra={"reason": str(exc)}
                )
                return AdoptResult(
                    release_id=f"{announcement.channel}-latest", outcome=AdoptOutcome.NOT_FOUND, problems=[str(exc)]
                )
        return self.adopt(
            AdoptRequest(
                channel=announcement.channel,
                number=number,
                announced=True,
                message_id=announcement.message_id,
                retry_not_found_until=retry_not_found_until,
            )
        )

    # ----- adoption --------------------------------------------------------------------------------
    def adopt(self, request: AdoptRequest) -> AdoptResult:
        """Start the adoption of one release unless the ledger says it is known, superseded or invalid."""
        if request.manifest_url is not None:
            return self._adopt_by_url(request, request.manifest_url)
        assert request.channel is not None and request.number is not None  # the model guarantees it
        channel, number = request.channel, request.number
        release_id = ReleaseRecord.key(channel, number)
        existing = self.ledger.get(release_id)
        if existing is not None and not request.force:
            known = self._known(existing, request)
            if known is not None:
                return known
        superseded = self._superseded(release_id, channel, number, request, existing)
        if superseded is not None:
            return superseded
        url = manifest_url(channel, number, self.host)
        try:
            body = self.fetcher.fetch(url, max_bytes=self.policy.max_manifest_bytes)
        except UpstreamNotFoundError as exc:
            return self._not_found(release_id, channel, number, url, request, existing, exc)
        return self._adopt_fetched(release_id, channel, number, url, body, request, existing)

    def _adopt_by_url(self, request: AdoptRequest, url: str) -> AdoptResult:
        # The release is whatever the manifest says it is; nothing is written unless it names one.
        try:
            body = self.fetcher.fetch(url, max_bytes=self.policy.max_manifest_bytes)
        except UpstreamNotFoundError as exc:
            raise ManifestNotPublishedError(str(exc)) from exc
        report = validate_manifest(body, policy=self.policy, source=url)
        release = report.release
        if release is None or not release.spec.channel or not release.spec.number:
            problems = [str(f) for f in report.errors] or ["the manifest names no spec.channel and spec.number"]
            raise InvalidManifestError(url, problems)
        release_id = release.release_id
        if request.channel is not None and request.channel != release.channel:
            raise InvalidManifestError(
                release_id, [f"the manifest is channel {release.channel}, not {request.channel}"]
            )
        request = request.model_copy(update={"channel": release.channel, "number": release.number})
        existing = self.ledger.get(release_id)
        if existing is not None and not request.force:
            known = self._known(existing, request)
            if known is not None:
                return known
        superseded = self._superseded(release_id, release.channel, release.number, request, existing)
        if superseded is not None:
            return superseded
        return self._adopt_fetched(release_id, release.channel, release.number, url, body, request, existing)

    def _known(self, existing: ReleaseRecord, request: AdoptRequest) -> AdoptResult | None:
        """The answer for a release the ledger has, or None when this attempt should go on (claimable)."""
        owner = request.message_id is not None and request.message_id in existing.message_ids
        if request.message_id is not None and not owner:
            self.ledger.add_message_id(existing.release_id, request.message_id)
        announced = existing.announced or request.announced
        if existing.status in CLAIMABLE:
            return None
        # Claimed but never started: the claimant failed before StartExecution. Its own redelivery
        # (the message id is in the record) or anyone after a while resumes it, under the same name.
        unstarted = existing.status is ReleaseStatus.ADOPTING and existing.execution_arn is None
        if unstarted and (owner or self.clock() - existing.updated_at > STALE_START):
            return self._resume(existing, announced)
        return AdoptResult(
            release_id=existing.release_id,
            outcome=AdoptOutcome.ALREADY_KNOWN,
            status=existing.status.value,
            execution_arn=existing.execution_arn,
            announced=announced,
        )

    def _resume(self, record: ReleaseRecord, announced: bool) -> AdoptResult:
        url = record.manifest_location or manifest_url(record.channel, record.number, self.host)
        try:
            body = self.fetcher.fetch(url, max_bytes=self.policy.max_manifest_bytes)
        except UpstreamNotFoundError as exc:  # it was there when claimed: this is an upstream fault, retry
            raise ManifestNotPublishedError(str(exc)) from exc
        digest = hashlib.sha256(body).hexdigest()
        if record.manifest_sha256 and digest != record.manifest_sha256:
            raise ManifestChangedError(
                f"release {record.release_id}: {url} now hashes to {digest}, the ledger has {record.manifest_sha256}"
            )
        return self._start(record, url, body.decode("utf-8"), digest, announced, execution_name(record.release_id))

    def _superseded(
        self, release_id: str, channel: str, number: int, request: AdoptRequest, existing: ReleaseRecord | None
    ) -> AdoptResult | None:
        if request.force:
            return None
        newest = self.ledger.newest(channel, statuses=STARTED_STATUSES, excluding=release_id, at_least=number)
        if newest is None or number > newest.number:
            return None
        problem = f"release {newest.release_id} is already adopted; {release_id} is older (force to adopt it anyway)"
        record = self._record(
            release_id=release_id,
            channel=channel,
            number=number,
            status=ReleaseStatus.SUPERSEDED,
            manifest_location=manifest_url(channel, number, self.host),
            announced=request.announced,
            message_ids=[request.message_id] if request.message_id else [],
            problems=[problem],
        )
        written = self._write_unstarted(record, existing)
        if written is None:
            return self._lost(release_id, request)
        return AdoptResult(
            release_id=release_id,
            outcome=AdoptOutcome.SUPERSEDED,
            status=written.status.value,
            announced=written.announced,
            problems=[problem],
        )

    def _not_found(
        self,
        release_id: str,
        channel: str,
        number: int,
        url: str,
        request: AdoptRequest,
        existing: ReleaseRecord | None,
        exc: UpstreamNotFoundError,
    ) -> AdoptResult:
        until = request.retry_not_found_until
        if until is not None and self.clock() < until:
            raise ManifestNotPublishedError(f"release {release_id}: {exc}") from exc
        # Given up for now: ``detected`` keeps the release in sight of the reconciler, which retries it.
        record = self._record(
            release_id=release_id,
            channel=channel,
            number=number,
            status=ReleaseStatus.DETECTED,
            manifest_location=url,
            announced=request.announced,
            message_ids=[request.message_id] if request.message_id else [],
            problems=[str(exc)],
        )
        written = self._write_unstarted(record, existing)
        if written is None:
            return self._lost(release_id, request)
        return AdoptResult(
            release_id=release_id,
            outcome=AdoptOutcome.NOT_FOUND,
            status=written.status.value,
            announced=written.announced,
            problems=[str(exc)],
        )

    def _adopt_fetched(
        self,
        release_id: str,
        channel: str,
        number: int,
        url: str,
        body: bytes,
        request: AdoptRequest,
        existing: ReleaseRecord | None,
    ) -> AdoptResult:
        digest = hashlib.sha256(body).hexdigest()
        problems, kubernetes_version, text = self._check_manifest(release_id, channel, number, url, body)
        announced = request.announced or (existing.announced if existing else False)
        facts = {
            "release_id": release_id,
            "channel": channel,
            "number": number,
            "kubernetes_version": kubernetes_version,
            "manifest_sha256": digest,
            "manifest_location": url,
            "announced": announced,
            "message_ids": [request.message_id] if request.message_id else [],
        }
        if problems:
            record = self._record(**facts, status=ReleaseStatus.INVALID, problems=problems)
            written = self._write_unstarted(record, existing, force=request.force)
            if written is None:
                return self._lost(release_id, request)
            return AdoptResult(
                release_id=release_id,
                outcome=AdoptOutcome.INVALID,
                status=ReleaseStatus.INVALID.value,
                announced=announced,
                problems=problems,
            )
        claimed = self._record(**facts, status=ReleaseStatus.ADOPTING, claimed_announced=announced)
        if request.force:
            name = execution_name(release_id, forced_at=self.clock())
            if existing is None:
                self.ledger.create(claimed)
            else:
                self.ledger.update(
                    release_id,
                    **_claim_fields(claimed),
                    execution_arn=None,
                    failure_cause=None,
                    announced=announced,
                    updated_at=self.clock(),
                )
        else:
            name = execution_name(release_id)
            if existing is None and self.ledger.create(claimed):
                pass  # the conditional create decided: this delivery won
            else:
                # The record exists (or appeared since we looked): claim it only from detected/invalid.
                try:
                    self.ledger.update(
                        release_id,
                        expected=CLAIMABLE,
                        **_claim_fields(claimed),
                        announced=announced,
                        updated_at=self.clock(),
                    )
                except LedgerConflictError:
                    return self._lost(release_id, request)
                if request.message_id is not None:
                    self.ledger.add_message_id(release_id, request.message_id)
        assert text is not None  # no problems means the text decoded
        return self._start(claimed, url, text, digest, announced, name)

    def _check_manifest(
        self, release_id: str, channel: str, number: int, url: str, body: bytes
    ) -> tuple[list[str], str | None, str | None]:
        """Every problem with the manifest (empty when valid), its Kubernetes version, and its text."""
        try:
            report = validate_manifest(body, policy=self.policy, source=url)
        except ManifestError as exc:  # not YAML at all, or over the size cap
            return [str(exc)], None, None
        problems = [str(f) for f in report.errors]
        release = report.release
        if release is not None and (release.channel, release.number) != (channel, number):
            problems.append(f"the manifest at {url} is release {release.release_id}, not {release_id}")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.append(f"the manifest is not UTF-8 text: {exc}")
            text = None
        return problems, release.kubernetes_version if release else None, text

    def _start(
        self, record: ReleaseRecord, url: str, text: str, digest: str, announced: bool, name: str
    ) -> AdoptResult:
        workflow_input = AdoptionInput(
            release_id=record.release_id,
            channel=record.channel,
            number=record.number,
            kubernetes_version=record.kubernetes_version,
            manifest_url=url,
            manifest_sha256=digest,
            manifest_yaml=text if len(text.encode("utf-8")) <= INLINE_MANIFEST_MAX_BYTES else None,
            announced=announced,
        )
        started = self.starter.start(name, workflow_input)
        # No status condition: the workflow may already have moved the record on.
        updated = self.ledger.update(record.release_id, execution_arn=started.execution_arn, updated_at=self.clock())
        self._publish(
            EventType.DETECTED,
            record,
            execution_arn=started.execution_arn,
            announced=announced,
            manifest_url=url,
            manifest_sha256=digest,
        )
        return AdoptResult(
            release_id=record.release_id,
            outcome=AdoptOutcome.STARTED,
            status=updated.status.value,
            execution_arn=started.execution_arn,
            execution_name=name,
            announced=announced,
        )

    def _write_unstarted(
        self, record: ReleaseRecord, existing: ReleaseRecord | None, *, force: bool = False
    ) -> ReleaseRecord | None:
        """Record a release that is not started (detected, invalid, superseded); None when another writer won."""
        if existing is None:
            if self.ledger.create(record):
                return record
            existing = self.ledger.get(record.release_id)
            for message_id in record.message_ids:
                self.ledger.add_message_id(record.release_id, message_id)
            if existing is None or existing.status not in CLAIMABLE:
                return None
        try:
            return self.ledger.update(
                record.release_id,
                status=record.status,
                expected=None if force else CLAIMABLE,
                problems=record.problems,
                kubernetes_version=record.kubernetes_version or existing.kubernetes_version,
                manifest_sha256=record.manifest_sha256 or existing.manifest_sha256,
                manifest_location=record.manifest_location,
                announced=record.announced or existing.announced,
                updated_at=self.clock(),
            )
        except LedgerConflictError:
            return None

    def _lost(self, release_id: str, request: AdoptRequest) -> AdoptResult:
        """Another delivery claimed the release first: record this message id, start nothing."""
        current = self.ledger.get(release_id)
        if request.message_id is not None:
            self.ledger.add_message_id(release_id, request.message_id)
        return AdoptResult(
            release_id=release_id,
            outcome=AdoptOutcome.ALREADY_KNOWN,
            status=current.status.value if current else None,
            execution_arn=current.execution_arn if current else None,
            announced=request.announced or bool(current and current.announced),
        )

    # ----- release channels and the reconciler -----------------------------------------------------
    def read_channel(self, channel: str) -> ChannelView:
        """``releasechannels/<ch>.yaml``; :class:`UpstreamNotFoundError` when the channel does not exist (yet)."""
        url = release_channel_url(channel, self.host)
        body = self.fetcher.fetch(url, max_bytes=MAX_CHANNEL_FILE_BYTES)
        try:
            document = ReleaseChannel.model_validate(
                load_yaml_document(body, max_bytes=MAX_CHANNEL_FILE_BYTES, what=url)
            )
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            raise ManifestError(f"{url}: not a ReleaseChannel document: {exc}") from exc
        if document.kind != "ReleaseChannel":
            raise ManifestError(f"{url}: kind is {document.kind!r}, not ReleaseChannel")
        if document.metadata.name not in (None, channel):
            raise ManifestError(f"{url}: metadata.name is {document.metadata.name!r}, not {channel}")
        latest = document.status.latest_release
        if latest is None or latest < 1:
            raise ManifestError(f"{url}: status.latestRelease is {latest!r}, not a release number >= 1")
        return ChannelView(channel=channel, latest_release=latest, active=bool(document.status.active))

    def tracked_channels(self) -> tuple[list[ChannelView], dict[str, str]]:
        """The channels to reconcile and the errors met reading them.

        An explicit list is read as given. ``from_minor`` walks up one minor at a time from there and
        stops at the first channel file the CDN does not have: that is how a new minor is found.
        """
        explicit, from_minor = self.tracking.explicit, self.tracking.from_minor
        views: list[ChannelView] = []
        errors: dict[str, str] = {}
        if explicit:
            names = list(explicit)
        elif from_minor is not None:
            major, minor = channel_key(from_minor)
            names = [f"{major}-{minor + i}" for i in range(self.tracking.max_channels)]
        else:
            return views, {"configuration": "no channels are tracked (set TRACKED_CHANNELS or TRACK_FROM_MINOR)"}
        for channel in names:
            try:
                views.append(self.read_channel(channel))
            except UpstreamNotFoundError as exc:
                if not explicit:
                    break  # the first minor upstream has not published: nothing newer exists
                errors[channel] = str(exc)
            except (FetchError, ManifestError) as exc:
                errors[channel] = str(exc)
        return views, errors

    def reconcile(
        self, *, grace: timedelta = timedelta(minutes=10), report: ReconcileReport | None = None
    ) -> ReconcileReport:
        """Put every release the channel files name and the ledger lacks on the ledger, and start it.

        A release first seen is recorded ``detected`` and started only once it is older than
        ``grace``, so a notification on its way still claims it; one started by the reconciler with
        no notification ever received counts as a missed notification. ``report`` is filled as the
        run goes, so a caller that passes one still has what was done when the run fails half-way.
        """
        report = report if report is not None else ReconcileReport()
        report.started_at = self.clock()
        report.channels, report.errors = self.tracked_channels()
        active = [view for view in report.channels if view.active]
        for view in active:
            try:
                report.detected += self._detect(view)
            except EksdAdoptError as exc:
                report.errors[view.channel] = str(exc)
        # One read for every channel's waiting records, rather than a query per channel on every run.
        unstarted: dict[str, list[ReleaseRecord]] = {}
        for record in self.ledger.unstarted():
            unstarted.setdefault(record.channel, []).append(record)
        for view in active:
            try:
                self._act_on_detected(unstarted.get(view.channel, []), grace, report)
            except EksdAdoptError as exc:
                report.errors.setdefault(view.channel, str(exc))
        return report

    def _detect(self, view: ChannelView) -> list[str]:
        if self.ledger.get(ReleaseRecord.key(view.channel, view.latest_release)) is not None:
            return []  # the usual answer, from one key lookup: the ledger has the channel's latest release
        newest = self.ledger.newest(view.channel)
        # A channel never seen before starts at its latest release: history is not back-filled.
        wanted = [view.latest_release] if newest is None else range(newest.number + 1, view.latest_release + 1)
        detected = []
        for number in wanted:
            record = self._record(
                release_id=ReleaseRecord.key(view.channel, number),
                channel=view.channel,
                number=number,
                status=ReleaseStatus.DETECTED,
                manifest_location=manifest_url(view.channel, number, self.host),
            )
            if self.ledger.create(record):
                detected.append(record.release_id)
        return detected

    def _act_on_detected(self, records: list[ReleaseRecord], grace: timedelta, report: ReconcileReport) -> None:
        now = self.clock()
        seen_before = now - grace
        for record in records:  # newest first: older ones then count as superseded
            waiting = record.status is ReleaseStatus.DETECTED and record.created_at <= seen_before
            stuck = (
                record.status is ReleaseStatus.ADOPTING
                and record.execution_arn is None
                and now - record.updated_at > STALE_START
            )
            if not (waiting or stuck):
                report.pending.append(record.release_id)
                continue
            try:
                result = self.adopt(AdoptRequest(channel=record.channel, number=record.number))
            except EksdAdoptError as exc:
                report.errors[record.release_id] = str(exc)
                continue
            report.results.append(result)
            acted = result.outcome in (AdoptOutcome.STARTED, AdoptOutcome.SUPERSEDED, AdoptOutcome.INVALID)
            # A stuck claim made unannounced (by the reconciler) failed to start in an earlier run
            # (throttled, or the run died), which counted nothing: it counts now that it has started,
            # even if a notification came in between (it came after the reconciler had found it).
            if acted and (not result.announced or (stuck and record.claimed_announced is False)):
                report.missed.append(record.release_id)
                self._publish(
                    EventType.NOTIFICATION_MISSED,
                    record,
                    outcome=result.outcome.value,
                    first_seen=record.created_at,
                )

    def _record(self, **fields: Any) -> ReleaseRecord:
        # Timestamps from the service's clock, so the grace and staleness rules use one time source.
        now = self.clock()
        return ReleaseRecord(**fields, created_at=now, updated_at=now)

    # ----- events ----------------------------------------------------------------------------------
    def _publish(self, event_type: EventType, record: ReleaseRecord, **detail: Any) -> None:
        if self.publisher is None:
            return
        event = make_event(
            event_type,
            release_id=record.release_id,
            channel=record.channel,
            number=record.number,
            kubernetes_version=record.kubernetes_version,
            manifest_location=record.manifest_location,
            **detail,
        )
        self.publisher.publish(event)


def _claim_fields(record: ReleaseRecord) -> dict[str, Any]:
    return {
        "status": ReleaseStatus.ADOPTING,
        "kubernetes_version": record.kubernetes_version,
        "manifest_sha256": record.manifest_sha256,
        "manifest_location": record.manifest_location,
        "problems": [],
        "claimed_announced": record.claimed_announced,
    }
