"""Publishing release events: one small interface, an in-memory implementation for tests."""

from __future__ import annotations

from typing import Protocol

from eksd_adopt.events.model import ReleaseEvent


class EventPublisher(Protocol):
    def publish(self, event: ReleaseEvent) -> None: ...


class InMemoryPublisher:
    """Keeps what was published, in order, for tests and the local runtime."""

    def __init__(self) -> None:
        self.events: list[ReleaseEvent] = []

    def publish(self, event: ReleaseEvent) -> None:
        self.events.append(event)
