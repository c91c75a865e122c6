"""Replay EKS-D's real release history through the intake under a simulated clock, with the faults the world brings.

Input: ``testdata/eksd/release-history.yaml`` (every channel's latest production release, the releases
never announced). Dates are not public, so a plausible calendar is drawn from the seed: a new minor
every 3 to 5 months, each channel released every 1 to 4 weeks while supported, all channels released
in one week announced by one docs change (several messages at once).

What runs is the production path: each announcement is an SNS envelope in a Lambda SQS event, handled
by ``functions/intake_notification/handler.py``; the reconciler is ``functions/intake_reconcile/handler.py`` on its
15-minute schedule; the ledger is :class:`~eksd_adopt.ledger.dynamodb.DynamoDbLedger` on moto. Stand-ins
only where the intake has ports: the clock (``IntakeService(clock=...)``), the upstream CDN (an
in-memory ``httpx`` transport under the real :class:`~eksd_adopt.fetch.DocumentFetcher`), and the
workflow starter (records starts with Step Functions' name semantics; no mirroring).

Faults, each drawn per release or per call from the seed: messages dropped (beyond the real
unannounced ones), duplicated, delivered late (up to hours) and so out of order; the manifest
answering 403/404 for a while after its announcement (CDN lag); the channel file lagging behind the
manifest; two intake invocations handling the same message at once (conditional-write races);
``StartExecution`` throttled, or failing after it started the execution; a reconciler run crashing
half-way (a DynamoDB error it does not handle); the intake timing out after it claimed a record and
before it started the execution.

Checks, per release: adopted exactly once, or recorded with its documented reason (superseded,
invalid); never two executions; the ``MissedNotifications`` metric the reconciler emitted equals the
releases it started with no notification heard before; detection latency (upload to start) in
simulated minutes. Idle reconciler ticks are skipped only when provably idle (see ``_Replay._quiet``).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import heapq
import io
import itertools
import json
import logging
import os
import random
import re
import time
import uuid
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import httpx
import yaml
from botocore.exceptions import ClientError
from rich.console import Console
from rich.table import Table

from eksd_adopt.events import EventType, InMemoryPublisher
from eksd_adopt.fetch import DocumentFetcher, manifest_url, release_channel_url
from eksd_adopt.intake import IntakeService, ReconcileError, StartedExecution, WorkflowStartError, wiring
from eksd_adopt.intake.models import AdoptResult, ChannelTracking
from eksd_adopt.ledger import ReleaseStatus
from eksd_adopt.ledger.dynamodb import DynamoDbLedger, create_ledger_table
from eksd_adopt.local.lambdas import LambdaContext, load_handler
from eksd_adopt.notification import ReleaseAnnouncement
from eksd_adopt.policy import DEFAULT_TOPIC_ARN, UpstreamPolicy
from eksd_adopt.retry import RetryPolicy
from eksd_adopt.workflow.models import AdoptionInput
from tests.logcapture import emitted_metrics
from tests.unit.intake.support import make_channel_file, make_manifest

REPO_ROOT = Path(__file__).resolve().parent.parent
HISTORY = REPO_ROOT / "testdata" / "eksd" / "release-history.yaml"
ANNOUNCEMENTS = REPO_ROOT / "testdata" / "eksd" / "sns-announcements"
DOCS = REPO_ROOT / "docs" / "benchmarks.md"

# Production timing (infra/constructs/intake.py; the replay's test checks these against it).
RECONCILE_EVERY = timedelta(minutes=15)
RECONCILE_GRACE = timedelta(minutes=10)  # two thirds of the interval, as the construct sets it
VISIBILITY_TIMEOUT = timedelta(minutes=6)
NOT_FOUND_RETRY = timedelta(minutes=30)
MAX_RECEIVE_COUNT = 7
BATCH_SIZE = 10
BATCHING_WINDOW = timedelta(seconds=5)

REGION = "us-east-1"
ACCOUNT = "123456789012"
LEDGER_TABLE = "eksd-adopt-ledger"
STATE_MACHINE_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:eksd-adopt-release"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:eksd-adopt-intake"
HOST = "distro.eks.amazonaws.com"
FIRST_MINOR_AT = datetime(2020, 12, 1, tzinfo=UTC)  # EKS-D's launch, a Tuesday
_CHANNEL = re.compile(r"1-[1-9][0-9]", re.ASCII)

# ----- the real history ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Release:
    channel: str
    number: int
    announced: bool  # upstream sent an SNS message for it
    documented: bool  # it has a docs page

    @property
    def release_id(self) -> str:
        return f"{self.channel}-{self.number}"


def channel_key(channel: str) -> tuple[int, int]:
    major, minor = channel.split("-")
    return int(major), int(minor)


def load_history(path: Path = HISTORY) -> list[Release]:
    """Every production release in the history file, oldest channel first; the file is checked strictly."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(document, dict) or set(document) != {"latest_production_release", "announced_never", "no_docs"}:
        raise ValueError(f"{path.name}: expected exactly latest_production_release, announced_never, no_docs")

    def numbers_by_channel(key: str) -> dict[str, set[int]]:
        table = document[key]
        if not isinstance(table, dict):
            raise ValueError(f"{path.name}: {key} is not a mapping")
        result: dict[str, set[int]] = {}
        for channel, numbers in table.items():
            if not isinstance(channel, str) or not _CHANNEL.fullmatch(channel):
                raise ValueError(f"{path.name}: {key}: {channel!r} is not a channel like 1-28")
            values = [numbers] if isinstance(numbers, int) else numbers
            if not isinstance(values, list) or not all(isinstance(n, int) and n >= 1 for n in values):
                raise ValueError(f"{path.name}: {key}.{channel}: release numbers must be integers >= 1")
            result[channel] = set(values)
        return result

    latest = {ch: max(ns) for ch, ns in numbers_by_channel("latest_production_release").items()}
    never = numbers_by_channel("announced_never")
    undocumented = numbers_by_channel("no_docs")
    for key, table in (("announced_never", never), ("no_docs", undocumented)):
        for channel, numbers in table.items():
            if channel not in latest or max(numbers) > latest[channel]:
                raise ValueError(f"{path.name}: {key}.{channel} names a release past the channel's latest")
    releases = []
    for channel in sorted(latest, key=channel_key):
        for number in range(1, latest[channel] + 1):
            documented = number not in undocumented.get(channel, set())
            announced = documented and number not in never.get(channel, set())
            releases.append(Release(channel, number, announced, documented))
    return releases


# ----- faults and the calendar --------------------------------------------------------------------------


@dataclass(frozen=True)
class Faults:
    """Rates, each in [0, 1]: per message, per release, per call or per run as named."""

    drop: float = 0.10  # an announcement never delivered (beyond the real unannounced ones)
    duplicate: float = 0.10  # delivered twice (SNS and SQS are at-least-once)
    late: float = 0.10  # delivered 10 minutes to 6 hours late, so out of order
    cdn_lag: float = 0.20  # the manifest answers 403/404 for 2 to 120 minutes after the announcement
    channel_lag: float = 0.10  # releasechannels/<ch>.yaml updated 30 minutes to 12 hours after the manifest
    race: float = 0.10  # a delivery handled by two intake invocations at once
    throttle: float = 0.05  # StartExecution answers ThrottlingException (nothing started)
    start_lost: float = 0.02  # StartExecution started the execution but the answer was lost
    crash: float = 0.05  # a reconciler run fails half-way (DynamoDB error it does not handle)
    timeout: float = 0.05  # an intake invocation times out after the claim, before StartExecution

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"--{name.replace('_', '-')}: {value} is not a rate between 0 and 1")


FAULT_HELP = {
    "drop": "share of announcements never delivered, beyond the real unannounced releases",
    "duplicate": "share of announcements delivered twice",
    "late": "share of deliveries 10 minutes to 6 hours late",
    "cdn_lag": "share of releases whose manifest answers 403/404 for 2 to 120 minutes after the announcement",
    "channel_lag": "share of releases whose channel file is updated 30 minutes to 12 hours after the manifest",
    "race": "share of deliveries handled by two intake invocations at once",
    "throttle": "share of StartExecution calls throttled",
    "start_lost": "share of StartExecution calls that start the execution and lose the answer",
    "crash": "share of reconciler runs that fail half-way (a DynamoDB error)",
    "timeout": "share of the intake's StartExecution calls cut by the function's timeout, after the claim",
}


@dataclass
class Publication:
    """When upstream publishes one release, and what the faults do to it."""

    release: Release
    upload_at: datetime  # manifest and artifacts on the CDN
    announce_at: datetime  # the docs change that (for an announced release) sends the SNS message
    channel_at: datetime  # releasechannels/<ch>.yaml names it
    visible_at: datetime  # the CDN answers 200 for the manifest (later than upload_at under CDN lag)
    lag_status: int  # 403 or 404 while not visible


def draw_calendar(releases: Sequence[Release], seed: int, faults: Faults, minors: Sequence[str]) -> list[Publication]:
    """A plausible calendar; ``minors`` are all the history's channels, so any subset of them gets the same dates."""
    rng = random.Random(f"calendar:{seed}")
    launch_week: dict[str, int] = {}
    week = 0
    for channel in sorted(minors, key=channel_key):
        launch_week[channel] = week
        week += rng.randint(13, 22)  # 3 to 5 months to the next minor
    week_of: dict[str, int] = {}
    publications = []
    for release in sorted(releases, key=lambda r: (channel_key(r.channel), r.number)):
        r = random.Random(f"release:{seed}:{release.release_id}")
        if release.channel in week_of:
            week_of[release.channel] += r.randint(1, 4)
        else:
            week_of[release.channel] = launch_week[release.channel]
        weeks = week_of[release.channel]
        # One docs change a week announces every channel released that week, at one time.
        docs = random.Random(f"docs:{seed}:{weeks}")
        announce_at = FIRST_MINOR_AT + timedelta(weeks=weeks, hours=docs.randint(15, 21), minutes=docs.randint(0, 59))
        # The release job uploads the manifest and the channel file; the docs change that announces it follows.
        upload_at = announce_at - timedelta(minutes=r.randint(1, 15))
        channel_at = upload_at
        if r.random() < faults.channel_lag:
            channel_at = upload_at + timedelta(minutes=r.randint(30, 12 * 60))
        visible_at, lag_status = upload_at, 404
        if r.random() < faults.cdn_lag:
            visible_at = announce_at + timedelta(minutes=r.randint(2, 120))
            lag_status = r.choice((403, 404))
        publications.append(Publication(release, upload_at, announce_at, channel_at, visible_at, lag_status))
    return publications


# ----- the upstream CDN, in memory ------------------------------------------------------------------------


class Upstream:
    """What distro.eks.amazonaws.com answers at the simulated time, served to the real DocumentFetcher."""

    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self.manifests: dict[str, tuple[Publication, bytes]] = {}
        # channel -> (since, latest release, active), appended in time order
        self.channel_states: dict[str, list[tuple[datetime, int, bool]]] = defaultdict(list)
        self.on_request: Callable[[str], None] | None = None
        self.requests = 0

    def publish_manifest(self, publication: Publication) -> None:
        release = publication.release
        body = make_manifest(release.channel, release.number).encode()
        self.manifests[_path(manifest_url(release.channel, release.number, HOST))] = (publication, body)

    def set_channel(self, channel: str, latest: int, active: bool) -> None:
        states = self.channel_states[channel]
        if states and states[-1][1] > latest and active:
            return  # a lagging update never moves the file back
        states.append((self.clock.now(), max(latest, states[-1][1]) if states else latest, active))

    def channel_latest(self, channel: str) -> int | None:
        states = self.channel_states.get(channel)
        return states[-1][1] if states else None

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._answer)

    def _answer(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        path = request.url.path
        if self.on_request is not None:
            self.on_request(path)
        now = self.clock.now()
        if path in self.manifests:
            publication, body = self.manifests[path]
            if now < publication.visible_at:
                return httpx.Response(publication.lag_status, content=b"<Error>AccessDenied or NoSuchKey</Error>")
            return httpx.Response(200, content=body, headers={"content-type": "application/x-yaml"})
        match = re.fullmatch(r"/releasechannels/(1-[0-9]+)\.yaml", path, re.ASCII)
        if match and self.channel_states.get(match[1]):
            _, latest, active = self.channel_states[match[1]][-1]
            text = make_channel_file(match[1], latest, active=active)
            return httpx.Response(200, content=text.encode(), headers={"content-type": "application/x-yaml"})
        # CloudFront in front of a private bucket answers 403 for a key that does not exist.
        return httpx.Response(403, content=b"<Error><Code>AccessDenied</Code></Error>")


def _path(url: str) -> str:
    return httpx.URL(url).path


# ----- the clock, the workflow starter, the queue ---------------------------------------------------------


class SimClock:
    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance_to(self, when: datetime) -> None:
        if when < self._now:
            raise ValueError(f"the clock cannot go back from {self._now} to {when}")
        self._now = when


class LambdaTimeout(BaseException):
    """The function ran out of time: nothing after this point ran, and SQS gets no answer for the batch."""


@dataclass
class Execution:
    release_id: str
    name: str
    started_at: datetime
    by: str  # "intake" or "reconciler"
    announced: bool


class RecordingWorkflowStarter:
    """Step Functions' StartExecution as the intake sees it, recording every start; faults from the seed.

    A name already used answers as the real adapter does after ``ExecutionAlreadyExists`` (or after the
    idempotent same-name-same-input answer): already started. StartExecution is idempotent on the name for
    a running execution and refuses the name of a closed one for 90 days:
    https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html
    """

    def __init__(self, replay: _Replay) -> None:
        self.replay = replay
        self.executions: dict[str, Execution] = {}
        self.calls = Counter[str]()

    def start(self, name: str, workflow_input: AdoptionInput) -> StartedExecution:
        replay = self.replay
        r = replay.rng
        self.calls["calls"] += 1
        if replay.invocation == "intake" and r.random() < replay.faults.timeout:
            self.calls["intake timeouts"] += 1
            raise LambdaTimeout(f"timed out before starting {name}")
        if r.random() < replay.faults.throttle:
            self.calls["throttled"] += 1
            raise WorkflowStartError(f"cannot start {name}: ThrottlingException: Rate exceeded")
        arn = STATE_MACHINE_ARN.replace(":stateMachine:", ":execution:") + f":{name}"
        if name in self.executions:
            self.calls["already existed"] += 1
            return StartedExecution(execution_arn=arn, already_existed=True)
        self.executions[name] = Execution(
            workflow_input.release_id, name, replay.clock.now(), replay.invocation, workflow_input.announced
        )
        if r.random() < replay.faults.start_lost:
            self.calls["lost answers"] += 1
            raise WorkflowStartError(f"cannot start {name}: Read timeout on endpoint URL (the execution started)")
        return StartedExecution(execution_arn=arn)


@dataclass
class Message:
    """One SQS message of the intake queue (an SNS envelope), as the event source mapping sees it."""

    sqs_id: str
    body: str
    release: Release
    sent_at: datetime
    visible_at: datetime
    receive_count: int = 0
    first_receive_at: datetime | None = None
    twin: Message | None = None  # handled at the same time by a second invocation (a race)

    def lambda_record(self) -> dict[str, Any]:
        millis = str(int(self.sent_at.timestamp() * 1000))
        first = self.first_receive_at or self.sent_at
        return {
            "messageId": self.sqs_id,
            "receiptHandle": base64.b64encode(f"{self.sqs_id}:{self.receive_count}".encode()).decode(),
            "body": self.body,
            "attributes": {
                "ApproximateReceiveCount": str(self.receive_count),
                "SentTimestamp": millis,
                "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                "ApproximateFirstReceiveTimestamp": str(int(first.timestamp() * 1000)),
            },
            "messageAttributes": {},
            "md5OfBody": hashlib.md5(self.body.encode(), usedforsecurity=False).hexdigest(),
            "eventSource": "aws:sqs",
            "eventSourceARN": QUEUE_ARN,
            "awsRegion": REGION,
        }


def announcement_text(release: Release, rng: random.Random) -> tuple[str, str | None]:
    """The message upstream sent for a release, in the style of its time (see testdata sns-announcements)."""
    major, minor = release.channel.split("-")
    if release.number == 1 and channel_key(release.channel) <= (1, 21):
        # 2021: a new minor was announced in free text naming no release (the intake reads the channel file).
        sample = (ANNOUNCEMENTS / "1-19-1.release-announcement.txt").read_text()
        return sample.replace("1.19", f"{major}.{minor}"), None
    if channel_key(release.channel) <= (1, 21) and rng.random() < 0.2:
        tag = f"v{major}.{minor}-{release.number}"  # the older dotted tag
    else:
        tag = f"v{release.channel}-eks-{release.number}"
    text = (
        f"Amazon EKS Distro {tag} is now available. Builds are available through ECR Public Gallery "
        "(https://gallery.ecr.aws/eks-distro). The changelog and release manifest are available on GitHub "
        "(https://github.com/aws/eks-distro/releases).\n\t"
    )
    return text, f"New Release of EKS-D v{release.channel}"


def sns_envelope(message_id: str, text: str, subject: str | None, at: datetime) -> str:
    envelope = {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": DEFAULT_TOPIC_ARN,
        **({"Subject": subject} if subject else {}),
        "Message": text,
        "Timestamp": at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "SignatureVersion": "1",
        "Signature": base64.b64encode(hashlib.sha256(message_id.encode()).digest() * 8).decode(),
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-example.pem",
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn="
        f"{DEFAULT_TOPIC_ARN}:{message_id}",
    }
    return json.dumps(envelope)


# ----- moto --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def moto_dynamodb(mode: str) -> Iterator[Any]:
    """A DynamoDB service resource on moto: its server on loopback (as eksd_adopt.local.aws starts it) or in-process."""
    env = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": REGION}
    with _environment({**env, "AWS_ENDPOINT_URL": None, "AWS_PROFILE": None}):
        if mode == "server":
            from moto.server import ThreadedMotoServer

            logging.getLogger("werkzeug").setLevel(logging.ERROR)
            server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            server.start()
            try:
                host, port = server.get_host_and_port()
                url = f"http://{host}:{port}"
                import requests

                requests.post(f"{url}/moto-api/reset", timeout=10).raise_for_status()
                yield boto3.resource("dynamodb", endpoint_url=url, region_name=REGION)
            finally:
                server.stop()
        elif mode == "inprocess":
            from moto import mock_aws

            with mock_aws():
                yield boto3.resource("dynamodb", region_name=REGION)
        else:
            raise ValueError(f"--moto: {mode!r} is not server or inprocess")


@contextlib.contextmanager
def _environment(values: dict[str, str | None]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    try:
        for name, value in values.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# ----- the replay ---------------------------------------------------------------------------------------


class ObservedIntakeService(IntakeService):
    """The real service; it only notes which release each announcement names when the handler passes it on."""

    replay: _Replay

    def handle_announcement(self, announcement: ReleaseAnnouncement, **kwargs: Any) -> AdoptResult:
        number = announcement.number
        if number is None:  # a channel-only message can only mean what the channel file says now
            number = self.replay.upstream.channel_latest(announcement.channel)
        if number is not None:
            self.replay.heard.setdefault(f"{announcement.channel}-{number}", self.replay.clock.now())
        return super().handle_announcement(announcement, **kwargs)


@dataclass
class Outcome:
    release: Release
    status: str  # ledger status at the end, or "absent"
    executions: int
    verdict: str  # adopted, superseded, invalid, missed, twice, unaccounted
    latency_minutes: float | None
    found_by_reconciler_only: bool
    counted_missed: int  # notification.missed events published for it (the metric counts the same releases)
    note: str = ""


@dataclass
class ReplayResult:
    seed: int
    channels: list[str]
    faults: Faults
    moto: str
    outcomes: list[Outcome]
    missed_metric: int
    missed_events: int
    counters: Counter[str]
    wall_seconds: float
    load_before: float
    load_after: float
    sim_start: datetime
    sim_end: datetime

    def count(self, verdict: str) -> int:
        return sum(1 for o in self.outcomes if o.verdict == verdict)

    @property
    def expected_missed(self) -> int:
        return sum(1 for o in self.outcomes if o.found_by_reconciler_only)

    def latencies(self, channel: str | None = None) -> list[float]:
        return [
            o.latency_minutes
            for o in self.outcomes
            if o.latency_minutes is not None and channel in (None, o.release.channel)
        ]

    @property
    def ok(self) -> bool:
        return (
            self.count("missed") == 0
            and self.count("twice") == 0
            and self.count("unaccounted") == 0
            and self.missed_metric == self.expected_missed
        )

    def summary_line(self) -> str:
        return summary_line([self])


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


class _Replay:
    def __init__(
        self, releases: list[Release], seed: int, faults: Faults, resource: Any, minors: Sequence[str]
    ) -> None:
        self.releases = releases
        self.seed = seed
        self.faults = faults
        self.rng = random.Random(f"faults:{seed}")
        self.calendar = draw_calendar(releases, seed, faults, minors)
        start = min(p.upload_at for p in self.calendar) - timedelta(days=1)
        self.clock = SimClock(start.replace(minute=0, second=0, microsecond=0))
        self.upstream = Upstream(self.clock)
        self.starter = RecordingWorkflowStarter(self)
        self.publisher = InMemoryPublisher()
        self.heard: dict[str, datetime] = {}
        self.counters = Counter[str]()
        self.invocation = ""
        self.missed_metric = 0
        self.queue: list[Message] = []
        self.dlq: list[Message] = []
        self._events: list[tuple[datetime, int, str, Any]] = []
        self._seq = itertools.count()
        self._crash_at: int | None = None
        self._ddb_calls = 0
        self._quiet = False
        self._next_tick = self.clock.now() + RECONCILE_EVERY
        self._log_sink = io.StringIO()
        self.first = min((r.channel for r in releases), key=channel_key)

        resource.meta.client.meta.events.register("before-call.dynamodb", self._dynamodb_fault)
        for operation in ("PutItem", "UpdateItem", "DeleteItem"):
            resource.meta.client.meta.events.register(f"after-call.dynamodb.{operation}", self._ledger_written)
        create_ledger_table(resource.meta.client, LEDGER_TABLE)
        fetcher = DocumentFetcher(
            UpstreamPolicy().manifest_hosts,
            client=httpx.Client(transport=self.upstream.transport()),
            retry=RetryPolicy(attempts=3, max_backoff=2.0),  # as wiring.intake_service builds it
        )
        self.service = ObservedIntakeService(
            ledger=DynamoDbLedger(LEDGER_TABLE, resource=resource),
            starter=self.starter,
            fetcher=fetcher,
            publisher=self.publisher,
            tracking=ChannelTracking(from_minor=self.first),
            clock=self.clock.now,
        )
        self.service.replay = self
        self.ledger = self.service.ledger
        with contextlib.redirect_stdout(self._log_sink):  # Powertools loggers write where stdout was at import
            self.intake = load_handler("intake_notification")
            self.reconciler = load_handler("intake_reconcile")

    # ----- scheduling -----------------------------------------------------------------------------------
    def _at(self, when: datetime, kind: str, payload: Any = None) -> None:
        heapq.heappush(self._events, (when, next(self._seq), kind, payload))

    def _changed(self) -> None:
        if self._quiet:
            self._quiet = False
            ticks = -(-(self.clock.now() - self._next_tick) // RECONCILE_EVERY)
            self._next_tick += RECONCILE_EVERY * max(0, ticks)

    def _plan(self) -> None:
        last_release: dict[str, Publication] = {}
        for publication in self.calendar:
            release = publication.release
            self._at(publication.upload_at, "upload", publication)
            self._at(publication.channel_at, "channel", publication)
            if publication.visible_at > publication.upload_at:
                self._at(publication.visible_at, "visible", publication)
            last_release[release.channel] = publication
            if release.announced:
                self._send(publication)
        for channel, publication in last_release.items():  # support ends some weeks after the last release
            self._at(publication.announce_at + timedelta(weeks=8), "retire", (channel, publication.release.number))

    def _send(self, publication: Publication) -> None:
        r = random.Random(f"message:{self.seed}:{publication.release.release_id}")
        if r.random() < self.faults.drop:
            self.counters["messages dropped"] += 1
            return
        sns_id = str(uuid.UUID(int=r.getrandbits(128), version=4))
        text, subject = announcement_text(publication.release, r)
        body = sns_envelope(sns_id, text, subject, publication.announce_at)
        copies = 2 if r.random() < self.faults.duplicate else 1
        for copy in range(copies):
            delay = timedelta(seconds=r.uniform(0.05, 4))
            if r.random() < self.faults.late:
                delay = timedelta(minutes=r.uniform(10, 6 * 60))
                self.counters["messages late"] += 1
            if copy:
                self.counters["messages duplicated"] += 1
            sent = publication.announce_at + delay
            message = Message(str(uuid.UUID(int=r.getrandbits(128), version=4)), body, publication.release, sent, sent)
            if r.random() < self.faults.race:
                message.twin = Message(
                    str(uuid.UUID(int=r.getrandbits(128), version=4)), body, message.release, sent, sent
                )
                self.counters["raced deliveries"] += 1
            self.counters["messages sent"] += 1
            self._enqueue(message)

    def _enqueue(self, message: Message) -> None:
        self.queue.append(message)
        self._at(message.visible_at + BATCHING_WINDOW, "poll")

    # ----- the loop -----------------------------------------------------------------------------------
    def run(self) -> None:
        self._plan()
        env = {
            "LEDGER_TABLE": LEDGER_TABLE,
            "STATE_MACHINE_ARN": STATE_MACHINE_ARN,
            "UPSTREAM_TOPIC_ARN": DEFAULT_TOPIC_ARN,
            "TRACK_FROM_MINOR": self.first,
            "TRACKED_CHANNELS": "",
            "MANIFEST_NOT_FOUND_RETRY_SECONDS": str(int(NOT_FOUND_RETRY.total_seconds())),
            "RECONCILE_GRACE_SECONDS": str(int(RECONCILE_GRACE.total_seconds())),
            "EVENTS_TOPIC_ARN": "",
            "EKSD_ADOPT_ENDPOINTS": "",
            "EKSD_ADOPT_POLICY": None,
            "POWERTOOLS_METRICS_DISABLED": "false",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_SERVICE_NAME": "eksd-adopt",
        }
        # The handlers build their HTTP client through wiring.http_client (an SSL context each, 55 ms here);
        # this upstream is in memory, so the factory hands out clients on the in-memory transport.
        saved_client = wiring.http_client
        wiring.http_client = lambda: httpx.Client(transport=self.upstream.transport())
        try:
            with _environment(env), warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*No application metrics to publish.*")
                self._loop()
        finally:
            wiring.http_client = saved_client

    def _loop(self) -> None:
        last_planned = max(when for when, *_ in self._events)
        while True:
            next_event = self._events[0][0] if self._events else None
            if self.clock.now() > last_planned + timedelta(days=30):
                raise RuntimeError(f"the replay did not settle within 30 days of its last event ({self.clock.now()})")
            if self._quiet:
                if next_event is None:
                    return
                self._run_event()
                continue
            if next_event is not None and next_event <= self._next_tick:
                self._run_event()
            else:
                self.clock.advance_to(self._next_tick)
                self._next_tick += RECONCILE_EVERY
                self._tick()

    def _run_event(self) -> None:
        when, _, kind, payload = heapq.heappop(self._events)
        self.clock.advance_to(when)
        if kind == "poll":
            self._poll()
            return
        release = payload.release if isinstance(payload, Publication) else None
        if kind == "upload":
            self.upstream.publish_manifest(payload)
        elif kind == "channel":
            assert release is not None
            self.upstream.set_channel(release.channel, release.number, active=True)
        elif kind == "retire":
            channel, number = payload
            self.upstream.set_channel(channel, number, active=False)
        self._changed()

    # ----- the intake ---------------------------------------------------------------------------------
    def _poll(self) -> None:
        now = self.clock.now()
        visible = sorted((m for m in self.queue if m.visible_at <= now), key=lambda m: (m.visible_at, m.sqs_id))
        if not visible:
            return
        self.rng.shuffle(visible)  # a standard queue keeps no order
        for start in range(0, len(visible), BATCH_SIZE):
            batch = []
            for message in visible[start : start + BATCH_SIZE]:
                self.queue.remove(message)
                if message.receive_count >= MAX_RECEIVE_COUNT:
                    self.dlq.append(message)  # the redrive policy moves it on this receive
                    self.counters["messages to DLQ"] += 1
                    continue
                message.receive_count += 1
                message.first_receive_at = message.first_receive_at or now
                batch.append(message)
            if batch:
                self._invoke_intake(batch)

    def _invoke_intake(self, batch: list[Message]) -> None:
        twins = {m.release.release_id: m.twin for m in batch if m.twin is not None and m.receive_count == 1}
        paths = {}
        for release_id, twin in twins.items():
            assert twin is not None
            release = twin.release
            paths[_path(manifest_url(release.channel, release.number, HOST))] = release_id
            paths[_path(release_channel_url(release.channel, HOST))] = release_id

        def race(path: str) -> None:
            # The second invocation runs between the first one's ledger read and its conditional write.
            twin = twins.pop(paths.get(path, ""), None)
            if twin is not None:
                self.counters["races run"] += 1
                twin.receive_count, twin.first_receive_at = 1, self.clock.now()
                self._handle_batch([twin])

        outer, self.upstream.on_request = self.upstream.on_request, race
        try:
            self._handle_batch(batch)
        finally:
            self.upstream.on_request = outer
        for twin in list(twins.values()):  # no fetch to race with: the twin comes right after
            assert twin is not None
            twin.receive_count, twin.first_receive_at = 1, self.clock.now()
            self._handle_batch([twin])

    def _handle_batch(self, batch: list[Message]) -> None:
        event = {"Records": [m.lambda_record() for m in batch]}
        context = LambdaContext(
            "eksd-adopt-intake-notification",
            f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:eksd-adopt-intake-notification",
        )
        previous, self.invocation = self.invocation, "intake"
        self.counters["intake invocations"] += 1
        failed: set[str]
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                response = self.intake.handler(event, context, service=self.service)
            failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
        except LambdaTimeout:
            self.counters["intake timed out"] += 1
            failed = {m.sqs_id for m in batch}  # no answer: the whole batch comes back
        finally:
            self.invocation = previous
        now = self.clock.now()
        for message in batch:
            if message.sqs_id in failed:
                self.counters["deliveries failed"] += 1
                message.visible_at = now + VISIBILITY_TIMEOUT
                message.twin = None
                self._enqueue(message)

    # ----- the reconciler -----------------------------------------------------------------------------
    def _tick(self) -> None:
        self.counters["reconciler runs"] += 1
        crash = self.rng.random() < self.faults.crash
        self._crash_at = self.rng.randint(1, 40) if crash else None
        self._ddb_calls = 0
        previous, self.invocation = self.invocation, "reconciler"
        event = {
            "version": "0",
            "id": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": ACCOUNT,
            "time": self.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": REGION,
            "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/eksd-adopt-reconcile"],
            "detail": {},
        }
        context = LambdaContext(
            "eksd-adopt-intake-reconcile", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:eksd-adopt-intake-reconcile"
        )
        output = io.StringIO()
        idle = False
        try:
            with contextlib.redirect_stdout(output):
                report = self.reconciler.handler(event, context, service=self.service)
            idle = not (report["detected"] or report["results"] or report["errors"] or report["pending"])
        except Exception as exc:  # a failed run is counted; Lambda reports it, and the next run goes on
            self.counters["reconciler runs failed"] += 1
            if self._crash_at is not None and self._ddb_calls >= self._crash_at:
                self.counters["reconciler crashes"] += 1
            elif not isinstance(exc, ReconcileError):
                raise
        finally:
            self.invocation = previous
            self._crash_at = None
        self.missed_metric += int(emitted_metrics(output.getvalue()).get("MissedNotifications", 0))
        # Later ticks are skipped only while they would do what this one did: nothing. Its inputs are the
        # upstream and the ledger (any change to either ends the quiet) and the clock, which matters only
        # to records it left pending (a detected one in its grace, a claim younger than STALE_START).
        self._quiet = idle

    def _ledger_written(self, http_response: Any, **_: Any) -> None:
        if http_response.status_code == 200:  # a conditional write that lost changed nothing
            self._changed()

    def _dynamodb_fault(self, **_: Any) -> None:
        if self.invocation != "reconciler" or self._crash_at is None:
            return
        self._ddb_calls += 1
        if self._ddb_calls == self._crash_at:
            raise ClientError(
                {"Error": {"Code": "InternalServerError", "Message": "Internal server error"}}, "DynamoDB"
            )

    # ----- the verdict --------------------------------------------------------------------------------
    def outcomes(self) -> list[Outcome]:
        records = {r.release_id: r for r in self.ledger.list()}
        executions: dict[str, list[Execution]] = defaultdict(list)
        for execution in self.starter.executions.values():
            executions[execution.release_id].append(execution)
        uploads = {p.release.release_id: p.upload_at for p in self.calendar}
        counted = Counter(e.release_id for e in self.publisher.events if e.event_type is EventType.NOTIFICATION_MISSED)
        result = []
        for release in self.releases:
            rid = release.release_id
            record = records.get(rid)
            started = sorted(executions.get(rid, []), key=lambda e: e.started_at)
            status = record.status.value if record else "absent"
            latency = None
            if record is None:
                verdict = "missed"
            elif len(started) > 1:
                verdict = "twice"
            elif len(started) == 1 and record.status not in (ReleaseStatus.SUPERSEDED, ReleaseStatus.INVALID):
                ok = record.execution_arn is not None and record.execution_arn.endswith(f":{started[0].name}")
                verdict = "adopted" if ok else "unaccounted"
                latency = (started[0].started_at - uploads[rid]).total_seconds() / 60
            elif not started and record.status in (ReleaseStatus.SUPERSEDED, ReleaseStatus.INVALID):
                verdict = record.status.value
            else:
                verdict = "unaccounted"
            heard = self.heard.get(rid)
            first = started[0] if started else None
            only_reconciler = (
                first is not None and first.by == "reconciler" and (heard is None or heard > first.started_at)
            ) or (first is None and record is not None and verdict in ("superseded", "invalid") and heard is None)
            note = (f"first started {first.started_at:%Y-%m-%d %H:%M} by {first.by}" if first else "never started") + (
                f", first heard {heard:%Y-%m-%d %H:%M}" if heard else ", never heard"
            )
            result.append(Outcome(release, status, len(started), verdict, latency, only_reconciler, counted[rid], note))
        return result


def replay(
    *,
    seed: int = 1,
    faults: Faults | None = None,
    channels: Sequence[str] | None = None,
    moto: str = "inprocess",
    history: Path = HISTORY,
) -> ReplayResult:
    """Run the replay; ``channels`` limits the history to those channels (default: all of it)."""
    faults = faults or Faults()
    releases = every = load_history(history)
    if channels:
        unknown = sorted(set(channels) - {r.channel for r in releases})
        if unknown:
            raise ValueError(f"--channels: {unknown} are not in {history.name}")
        releases = [r for r in releases if r.channel in set(channels)]
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    with moto_dynamodb(moto) as resource:
        world = _Replay(releases, seed, faults, resource, sorted({r.channel for r in every}))
        sim_start = world.clock.now()
        world.run()
        outcomes = world.outcomes()
    missed_events = sum(1 for e in world.publisher.events if e.event_type is EventType.NOTIFICATION_MISSED)
    counters = world.counters + world.starter.calls
    counters["reconciler ticks skipped"] = (
        int((world.clock.now() - sim_start) / RECONCILE_EVERY) - counters["reconciler runs"]
    )
    return ReplayResult(
        seed=seed,
        channels=sorted({r.channel for r in releases}, key=channel_key),
        faults=faults,
        moto=moto,
        outcomes=outcomes,
        missed_metric=world.missed_metric,
        missed_events=missed_events,
        counters=counters,
        wall_seconds=time.perf_counter() - started,
        load_before=load_before,
        load_after=os.getloadavg()[0],
        sim_start=sim_start,
        sim_end=world.clock.now(),
    )


# ----- reporting ----------------------------------------------------------------------------------------


def channel_table(result: ReplayResult) -> Table:
    table = Table(title=f"Release history replay, seed {result.seed} (detection latency in simulated minutes)")
    columns = (
        "channel", "releases", "announced", "heard by intake first", "reconciler only", "adopted",
        "superseded", "invalid", "missed", "twice", "unaccounted", "p50", "p99", "max",
    )  # fmt: skip
    for column in columns:
        table.add_column(column, justify="right")
    by_channel: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in result.outcomes:
        by_channel[outcome.release.channel].append(outcome)
    for channel in [*result.channels, None]:
        rows = result.outcomes if channel is None else by_channel[channel]
        latencies = result.latencies(channel)
        table.add_row(
            channel or "total",
            str(len(rows)),
            str(sum(o.release.announced for o in rows)),
            str(sum(1 for o in rows if o.verdict == "adopted" and not o.found_by_reconciler_only)),
            str(sum(o.found_by_reconciler_only for o in rows)),
            *(str(sum(1 for o in rows if o.verdict == v)) for v in ("adopted", "superseded", "invalid", "missed")),
            *(str(sum(1 for o in rows if o.verdict == v)) for v in ("twice", "unaccounted")),
            f"{percentile(latencies, 50):.0f}",
            f"{percentile(latencies, 99):.0f}",
            f"{max(latencies, default=0):.0f}",
            end_section=channel == result.channels[-1],
        )
    return table


def print_result(result: ReplayResult, console: Console) -> None:
    console.print(channel_table(result))
    c = result.counters
    console.print(
        f"simulated {result.sim_start:%Y-%m-%d} to {result.sim_end:%Y-%m-%d}; messages: {c['messages sent']} sent,"
        f" {c['messages dropped']} dropped, {c['messages duplicated']} duplicated, {c['messages late']} late,"
        f" {c['raced deliveries']} raced, {c['deliveries failed']} deliveries failed and retried,"
        f" {c['messages to DLQ']} to the DLQ; intake invocations {c['intake invocations']}"
        f" ({c['intake timed out']} timed out after the claim); StartExecution calls {c['calls']}"
        f" ({c['throttled']} throttled, {c['lost answers']} answers lost, {c['already existed']} already existed);"
        f" reconciler runs {c['reconciler runs']} ({c['reconciler crashes']} crashed half-way,"
        f" {c['reconciler runs failed']} failed in all), {c['reconciler ticks skipped']} idle ticks skipped"
    )
    console.print(
        f"MissedNotifications metric {result.missed_metric}, notification.missed events {result.missed_events},"
        f" releases only the reconciler found {result.expected_missed}:"
        f" {'equal' if result.missed_metric == result.expected_missed else 'DIFFERENT'};"
        f" detection p50 {percentile(result.latencies(), 50):.0f}, p99 {percentile(result.latencies(), 99):.0f},"
        f" max {max(result.latencies(), default=0):.0f} min against a {RECONCILE_EVERY.seconds // 60}-minute"
        f" reconciler interval; {result.wall_seconds:.1f} s wall on moto {result.moto}, load average"
        f" {result.load_before:.2f} before, {result.load_after:.2f} after"
    )
    for o in result.outcomes:
        if o.verdict in ("missed", "twice", "unaccounted") or o.counted_missed != o.found_by_reconciler_only:
            console.print(
                f"  {o.release.release_id}: {o.verdict}, ledger {o.status}, {o.executions} execution(s),"
                f" counted missed {o.counted_missed}x, reconciler only: {o.found_by_reconciler_only}; {o.note}"
            )


def _markdown_channels(result: ReplayResult) -> str:
    table = channel_table(result)
    header = [str(c.header) for c in table.columns]
    rows = [[str(cell) for cell in column._cells] for column in table.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row[i] for row in rows) + " |" for i in range(len(rows[0]))]
    return "\n".join(lines)


def write_docs(results: list[ReplayResult], path: Path = DOCS) -> None:
    """Put the runs' figures into the "Release history replay" section of docs/benchmarks.md."""
    first = results[0]
    f = first.faults
    seeds = [
        "| seed | releases | missed | adopted twice | unaccounted | MissedNotifications (metric / expected) |"
        " detection p50 / p99 / max (min) | wall s | load avg before / after |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lat = r.latencies()
        seeds.append(
            f"| {r.seed} | {len(r.outcomes)} | {r.count('missed')} | {r.count('twice')} | {r.count('unaccounted')} |"
            f" {r.missed_metric} / {r.expected_missed} | {percentile(lat, 50):.0f} / {percentile(lat, 99):.0f} /"
            f" {max(lat, default=0):.0f} | {r.wall_seconds:.0f} | {r.load_before:.2f} / {r.load_after:.2f} |"
        )
    section = f"""## Release history replay

`make bench BENCH=history` (`bench/history.py`; flags in `python -m bench history --help`) replays
EKS-D's real release history (`testdata/eksd/release-history.yaml`: {len(first.outcomes)} releases over
{len(first.channels)} channels, 52 of them never announced) through the intake handler and the reconciler
handler under a simulated clock, with the ledger on moto ({first.moto}). Faults: {f.drop:.0%} of
announcements dropped, {f.duplicate:.0%} duplicated, {f.late:.0%} late by 10 min to 6 h, CDN lag (403/404
for 2 to 120 min after the announcement) on {f.cdn_lag:.0%} of releases, the channel file lagging on
{f.channel_lag:.0%}, {f.race:.0%} of deliveries raced by a second invocation, StartExecution throttled on
{f.throttle:.0%} of calls and losing its answer on {f.start_lost:.0%}, {f.crash:.0%} of reconciler runs
crashing half-way, {f.timeout:.0%} of intake starts timing out after the claim. "Missed": never in the
ledger; "unaccounted": in the ledger but neither adopted once nor superseded/invalid; latency: from the
manifest's upload to the execution's start, against the reconciler's {RECONCILE_EVERY.seconds // 60}-minute
interval. Load average: other work on the 2-core machine while it ran.

{chr(10).join(seeds)}

Per channel, seed {first.seed}:

{_markdown_channels(first)}
"""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n\nFigures from `make bench`.\n"
    pattern = re.compile(r"## Release history replay\n.*?(?=\n## |\Z)", re.DOTALL)
    text = (
        pattern.sub(lambda _: section.rstrip("\n") + "\n", text)
        if pattern.search(text)
        else text.rstrip("\n") + "\n\n" + section
    )
    path.write_text(text, encoding="utf-8")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench history", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seed",
        type=int,
        action="append",
        help="seed of the calendar and the faults; repeat it for several replays (the last line then sums them)",
    )
    parser.add_argument(
        "--channels",
        default=None,
        help="a number N (the N oldest channels) or a comma-separated list of channels; default: all",
    )
    defaults = Faults()
    for name, what in FAULT_HELP.items():
        default = getattr(defaults, name)
        parser.add_argument(
            f"--{name.replace('_', '-')}",
            type=float,
            default=default,
            metavar="RATE",
            help=f"{what} (default {default})",
        )
    parser.add_argument("--moto", choices=("inprocess", "server"), default="inprocess")
    parser.add_argument("--no-docs", action="store_true", help="do not write docs/benchmarks.md")
    return parser


def run(argv: Sequence[str] = ()) -> None:
    args = _parser().parse_args(list(argv))
    faults = Faults(**{name: getattr(args, name) for name in vars(Faults())})
    names = sorted({r.channel for r in load_history()}, key=channel_key)
    channels: list[str] | None = None
    if args.channels:
        if args.channels.isdigit():
            channels = names[: int(args.channels)]
        else:
            channels = [c.strip() for c in args.channels.split(",") if c.strip()]
    console = Console(width=160)
    results = []
    for seed in args.seed or [1]:
        result = replay(seed=seed, faults=faults, channels=channels, moto=args.moto)
        print_result(result, console)
        results.append(result)
    if not args.no_docs:
        write_docs(results)
        console.print(f"figures written to {DOCS.relative_to(REPO_ROOT)}")
    for result in results:
        console.print(f"seed {result.seed}: {result.summary_line()}")
    print(summary_line(results), flush=True)
    if not all(r.ok for r in results):
        raise SystemExit(1)


def summary_line(results: Sequence[ReplayResult]) -> str:
    """The last line, for scripts: releases per replay; the counts summed over the seeds; the worst p99."""
    counts = {v: sum(r.count(v) for r in results) for v in ("missed", "twice", "unaccounted")}
    p99 = max(percentile(r.latencies(), 99) for r in results)
    return (
        f"history: {len(results[0].outcomes)} releases, {counts['missed']} missed, {counts['twice']} adopted twice,"
        f" {counts['unaccounted']} unaccounted, detection p99 {p99:.0f} min"
    )
