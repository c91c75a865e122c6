"""Unit fixtures: the intake service over the in-memory ledger, starter and publisher, and a scripted CDN (no sockets)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from eksd_adopt.events import InMemoryPublisher
from eksd_adopt.fetch import DocumentFetcher
from eksd_adopt.intake import IntakeService
from eksd_adopt.intake.models import ChannelTracking
from eksd_adopt.intake.ports import InMemoryWorkflowStarter
from eksd_adopt.ledger import InMemoryLedger
from eksd_adopt.retry import RetryPolicy


class ScriptedCdn:
    """Answers GETs from a dict of path -> body; a path may first answer a list of statuses (e.g. 404 twice)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.statuses: dict[str, list[int]] = {}
        self.requests: list[str] = []
        self.before_reply: Callable[[str], None] | None = None
        self._lock = threading.Lock()

    def put(self, path: str, body: str | bytes) -> None:
        self.files[path] = body.encode() if isinstance(body, str) else body

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        with self._lock:
            self.requests.append(path)
            queued = self.statuses.get(path)
            status = queued.pop(0) if queued else None
        if self.before_reply is not None:
            self.before_reply(path)
        if status is not None:
            return httpx.Response(status)
        if path not in self.files:
            return httpx.Response(404)
        return httpx.Response(200, content=self.files[path])


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def cdn() -> ScriptedCdn:
    return ScriptedCdn()


@pytest.fixture
def ledger() -> InMemoryLedger:
    return InMemoryLedger()


@pytest.fixture
def starter() -> InMemoryWorkflowStarter:
    return InMemoryWorkflowStarter()


@pytest.fixture
def publisher() -> InMemoryPublisher:
    return InMemoryPublisher()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_service(
    cdn: ScriptedCdn, ledger: InMemoryLedger, starter: InMemoryWorkflowStarter, publisher: InMemoryPublisher
) -> Callable[..., IntakeService]:
    def build(tracking: ChannelTracking | None = None, clock: Callable[[], datetime] | None = None) -> IntakeService:
        client = httpx.Client(transport=httpx.MockTransport(cdn.handle))
        fetcher = DocumentFetcher(["distro.eks.amazonaws.com"], client=client, retry=RetryPolicy(attempts=1))
        kwargs = {"clock": clock} if clock else {}
        return IntakeService(
            ledger=ledger, starter=starter, fetcher=fetcher, publisher=publisher, tracking=tracking, **kwargs
        )

    return build


@pytest.fixture
def service(make_service: Callable[..., IntakeService]) -> IntakeService:
    return make_service()
