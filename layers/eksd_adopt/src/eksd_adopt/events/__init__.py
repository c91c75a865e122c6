"""Release events published to subscribing teams (schema and publishing; see docs/events.md)."""

from eksd_adopt.events.model import EventType, ReleaseEvent
from eksd_adopt.events.publish import EventPublisher, InMemoryPublisher

__all__ = ["EventPublisher", "EventType", "InMemoryPublisher", "ReleaseEvent"]
