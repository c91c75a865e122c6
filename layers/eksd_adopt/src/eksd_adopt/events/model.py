"""Release event models. (Seed version: the events issue turns this into one versioned model per type.)"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class EventType(StrEnum):
    DETECTED = "release.detected"
    MIRRORED = "release.mirrored"
    VERIFIED = "release.verified"
    TESTED = "release.tested"
    AWAITING_APPROVAL = "release.awaiting_approval"
    APPROVED = "release.approved"
    REJECTED = "release.rejected"
    EXPIRED = "release.expired"
    PROMOTED = "release.promoted"
    ROLLED_BACK = "release.rolled_back"
    FAILED = "release.failed"
    NOTIFICATION_MISSED = "notification.missed"


class ReleaseEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    schema_version: str = "1"
    event_type: EventType
    release_id: str
    channel: str
    number: int
    kubernetes_version: str | None = None
    stage: str | None = None
    manifest_location: str | None = None
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    detail: dict[str, Any] = Field(default_factory=dict)
