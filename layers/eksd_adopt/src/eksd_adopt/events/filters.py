"""Subscription filters: typed choices (channels, event types, stages, minors) -> an SNS filter policy.

The filter policy matches the message attributes every event carries (see ``ReleaseEvent.message_attributes``):
keys are ANDed, the values listed for one key are ORed, and an event without a stage has ``stage=none``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from eksd_adopt.events.errors import EventFilterError
from eksd_adopt.events.model import (
    CHANNEL_PATTERN,
    KUBERNETES_MINOR_PATTERN,
    NO_STAGE,
    STAGE_PATTERN,
    EventType,
)

# SNS refuses a filter policy whose values multiply out to more than 150 combinations.
MAX_COMBINATIONS = 150

# The model's patterns, ASCII-only and matched whole (fullmatch): Python's `$` also matches before a
# final newline, so "1-30\n" would pass a plain match.
_CHANNEL = re.compile(CHANNEL_PATTERN, re.ASCII)
_MINOR = re.compile(KUBERNETES_MINOR_PATTERN, re.ASCII)
_STAGE = re.compile(STAGE_PATTERN, re.ASCII)
# ``promoted`` is accepted for ``release.promoted``, ``missed`` for ``notification.missed``.
_SHORT_NAMES = {t.value.split(".", 1)[1]: t for t in EventType}


def valid_event_types() -> list[str]:
    return [t.value for t in EventType]


def parse_event_type(name: str) -> EventType:
    """An event type from its full name (``release.promoted``) or its short one (``promoted``)."""
    text = name.strip()
    if text in _SHORT_NAMES:
        return _SHORT_NAMES[text]
    try:
        return EventType(text)
    except ValueError:
        raise EventFilterError(
            f"unknown event type {name!r}; valid event types: {', '.join(valid_event_types())}"
        ) from None


class EventFilter(BaseModel):
    """What one subscriber wants to hear about; an empty choice means 'any'."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    channels: tuple[str, ...] = ()
    event_types: tuple[EventType, ...] = ()
    stages: tuple[str, ...] = ()
    kubernetes_minors: tuple[str, ...] = ()

    @classmethod
    def of(
        cls,
        *,
        channels: Iterable[str] = (),
        event_types: Iterable[EventType | str] = (),
        stages: Iterable[str] = (),
        kubernetes_minors: Iterable[str] = (),
    ) -> EventFilter:
        """Validated choices, every problem named at once (EventFilterError); duplicates removed, order kept."""
        problems: list[str] = []
        types: list[EventType] = []
        for name in event_types:
            try:
                types.append(name if isinstance(name, EventType) else parse_event_type(name))
            except EventFilterError as exc:
                problems.append(str(exc))
        bad_channels = [c for c in channels if not _CHANNEL.fullmatch(c)]
        if bad_channels:
            problems.append(
                f"malformed channel {', '.join(map(repr, bad_channels))}; a channel is <major>-<minor>, e.g. 1-30"
            )
        bad_minors = [m for m in kubernetes_minors if not _MINOR.fullmatch(m)]
        if bad_minors:
            problems.append(
                f"malformed Kubernetes minor {', '.join(map(repr, bad_minors))}; a minor is <major>.<minor>, e.g. 1.30"
            )
        bad_stages = [s for s in stages if s != NO_STAGE and not _STAGE.fullmatch(s)]
        if bad_stages:
            problems.append(
                f"malformed stage {', '.join(map(repr, bad_stages))}; a stage matches {STAGE_PATTERN} "
                f"(e.g. staging, prod), or is {NO_STAGE!r} for events without a stage"
            )
        if problems:
            raise EventFilterError("; ".join(problems))
        chosen = cls(
            channels=_unique(channels),
            event_types=_unique(types),
            stages=_unique(stages),
            kubernetes_minors=_unique(kubernetes_minors),
        )
        if chosen.combinations() > MAX_COMBINATIONS:
            raise EventFilterError(
                f"the filter allows {chosen.combinations()} combinations of values; SNS accepts at most "
                f"{MAX_COMBINATIONS} (subscribe twice, or filter on fewer values)"
            )
        return chosen

    def allowlists(self) -> dict[str, list[str]]:
        """Message attribute -> the values allowed (only attributes that are filtered on)."""
        lists = {
            "event_type": [t.value for t in self.event_types],
            "channel": list(self.channels),
            "kubernetes_minor": list(self.kubernetes_minors),
            "stage": list(self.stages),
        }
        return {key: values for key, values in lists.items() if values}

    def policy(self) -> dict[str, list[str]] | None:
        """The SNS filter policy (MessageAttributes scope), or None when everything is wanted."""
        return self.allowlists() or None

    def combinations(self) -> int:
        return math.prod(len(values) for values in self.allowlists().values())


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))
