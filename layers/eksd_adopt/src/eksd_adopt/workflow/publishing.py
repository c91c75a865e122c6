"""The one function every workflow step publishes its outcome through (the events package owns the schema)."""

from __future__ import annotations

from typing import Any

from eksd_adopt.events import EventPublisher, EventType, ReleaseEvent
from eksd_adopt.events.model import make_event
from eksd_adopt.workflow.models import ReleaseRef


def emit(
    publisher: EventPublisher,
    event_type: EventType,
    release: ReleaseRef,
    *,
    stage: str | None = None,
    manifest_location: str | None = None,
    **detail: Any,
) -> ReleaseEvent:
    event = make_event(
        event_type,
        release_id=release.release_id,
        channel=release.channel,
        number=release.number,
        kubernetes_version=release.kubernetes_version,
        stage=stage,
        manifest_location=manifest_location,
        **detail,
    )
    publisher.publish(event)
    return event
