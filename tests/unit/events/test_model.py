"""Event models: one model per type, details validated, common fields consistent, attributes for filters."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from eksd_adopt.events import (
    EVENT_MODELS,
    EventType,
    InMemoryPublisher,
    ReleaseEvent,
    ReleaseFailed,
    ReleasePromoted,
    ReleaseRolledBack,
    make_event,
    parse_event,
)
from eksd_adopt.events.catalog import example_event, example_events

COMMON = {"release_id": "1-30-58", "channel": "1-30", "number": 58, "kubernetes_version": "v1.30.11"}


def test_every_event_type_has_its_own_model_and_example() -> None:
    assert set(EVENT_MODELS) == set(EventType)
    assert len({m.__name__ for m in EVENT_MODELS.values()}) == len(EventType)
    for event in example_events():
        assert type(event) is EVENT_MODELS[event.event_type]


def test_make_event_builds_the_types_model_with_typed_detail() -> None:
    event = make_event(EventType.MIRRORED, **COMMON, stage="staging", images=17, archives=45, bytes=10)
    assert type(event).__name__ == "ReleaseMirrored"
    assert (event.detail.images, event.detail.archives, event.detail.bytes) == (17, 45, 10)  # type: ignore[attr-defined]
    assert event.schema_version == "1"
    assert event.kubernetes_minor == "1.30"
    assert event.occurred_at.tzinfo is not None
    assert event.event_id != make_event(EventType.MIRRORED, **COMMON, images=1, archives=1).event_id


def test_make_event_accepts_the_event_type_as_text() -> None:
    assert isinstance(make_event("release.failed", **COMMON, error="X"), ReleaseFailed)


def test_make_event_refuses_unknown_event_type_listing_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown event type 'release\.shipped'; valid: release\.detected, "):
        make_event("release.shipped", **COMMON)


def test_unknown_detail_key_is_refused_naming_it() -> None:
    with pytest.raises(ValidationError, match=r"detail\.imagez"):
        make_event(EventType.MIRRORED, **COMMON, images=1, archives=2, imagez=3)


def test_missing_required_detail_is_refused_naming_it() -> None:
    with pytest.raises(ValidationError, match=r"detail\.from_release_id"):
        make_event(EventType.ROLLED_BACK, **COMMON, stage="prod", by="arn:aws:iam::111122223333:user/a")


def test_negative_counts_are_refused() -> None:
    with pytest.raises(ValidationError, match=r"detail\.bytes"):
        make_event(EventType.MIRRORED, **COMMON, images=1, archives=2, bytes=-1)


@pytest.mark.parametrize(
    ("event_type", "detail"),
    [
        (EventType.PROMOTED, {}),
        (EventType.AWAITING_APPROVAL, {}),
        (EventType.APPROVED, {"approvers": ["arn:aws:iam::1:user/a"]}),
        (EventType.ROLLED_BACK, {"from_release_id": "1-30-59", "by": "a"}),
    ],
)
def test_stage_events_need_a_stage(event_type: EventType, detail: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="needs a stage"):
        make_event(event_type, **COMMON, **detail)


def test_stage_none_is_reserved_for_the_attribute() -> None:
    with pytest.raises(ValidationError, match="reserved"):
        make_event(EventType.PROMOTED, **COMMON, stage="none")


@pytest.mark.parametrize("stage", ["Prod", "prod stage", "", "-x", "a" * 33])
def test_malformed_stage_is_refused(stage: str) -> None:
    with pytest.raises(ValidationError, match="stage"):
        make_event(EventType.PROMOTED, **COMMON, stage=stage)


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"release_id": "1-30-57"}, "release_id"),
        ({"release_id": "1-30-58", "channel": "1.30"}, "channel"),
        ({"release_id": "1-30-0", "number": 0}, "number"),
        ({"release_id": "rel"}, "release_id"),
    ],
)
def test_inconsistent_or_malformed_common_fields_are_refused(fields: dict[str, object], where: str) -> None:
    with pytest.raises(ValidationError, match=where):
        make_event(EventType.FAILED, **{**COMMON, **fields}, error="X")  # type: ignore[arg-type]


def test_kubernetes_minor_is_derived_and_a_wrong_one_refused() -> None:
    event = make_event(EventType.FAILED, release_id="1-9-3", channel="1-9", number=3, error="X")
    assert event.kubernetes_minor == "1.9"
    data = event.model_dump(mode="json") | {"kubernetes_minor": "1.31"}
    with pytest.raises(ValidationError, match="does not match channel"):
        parse_event(data)


def test_base_constructor_builds_the_types_model_as_make_event_does() -> None:
    # Code written against the seed (ReleaseEvent(event_type=..., detail={...})) keeps working, validated.
    event = ReleaseEvent(
        event_type=EventType.ROLLED_BACK,
        **COMMON,  # type: ignore[arg-type]
        stage="prod",
        detail={"from_release_id": "1-30-59", "by": "arn:aws:iam::111122223333:user/a"},
    )
    assert isinstance(event, ReleaseRolledBack)
    assert event.detail["from_release_id"] == "1-30-59"
    with pytest.raises(KeyError):
        event.detail["nope"]
    with pytest.raises(ValidationError, match=r"detail\.bogus"):
        ReleaseEvent(event_type=EventType.PROMOTED, **COMMON, stage="prod", detail={"bogus": 1})  # type: ignore[arg-type]


def test_the_base_class_alone_is_not_an_event() -> None:
    with pytest.raises(ValidationError, match="make_event"):
        ReleaseEvent.model_validate({**COMMON, "event_type": "release.failed"})


def test_every_example_round_trips_through_json() -> None:
    for event in example_events():
        parsed = parse_event(event.model_dump_json())
        assert parsed == event
        assert type(parsed) is type(event)
        assert parse_event(json.loads(event.model_dump_json())) == event


def test_parse_refuses_an_unknown_schema_version_and_event_type() -> None:
    data = example_event(EventType.PROMOTED).model_dump(mode="json")
    with pytest.raises(ValidationError, match="schema_version"):
        parse_event(data | {"schema_version": "2"})
    with pytest.raises(ValidationError, match=r"release\.shipped"):
        parse_event(data | {"event_type": "release.shipped"})
    with pytest.raises(ValidationError, match="detail"):
        # a promoted event cannot carry a failure's detail: the union is discriminated on event_type
        parse_event(data | {"detail": {"error": "X"}})


def test_published_json_has_every_common_field_and_utc_time() -> None:
    event = make_event(
        EventType.PROMOTED, **COMMON, stage="prod", occurred_at=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    )
    body = json.loads(event.model_dump_json())
    assert set(body) == {
        "schema_version",
        "event_id",
        "event_type",
        "occurred_at",
        "release_id",
        "channel",
        "number",
        "kubernetes_version",
        "kubernetes_minor",
        "stage",
        "manifest_location",
        "detail",
    }
    assert body["occurred_at"] == "2025-01-02T03:04:05Z"
    assert body["detail"] == {"images": None, "archives": None, "bytes": None, "parameter": None, "record_key": None}


def test_message_attributes_carry_the_four_filter_keys() -> None:
    promoted = make_event(EventType.PROMOTED, **COMMON, stage="prod")
    assert promoted.message_attributes() == {
        "event_type": "release.promoted",
        "channel": "1-30",
        "kubernetes_minor": "1.30",
        "stage": "prod",
    }
    detected = make_event(EventType.DETECTED, **COMMON)
    assert detected.message_attributes()["stage"] == "none"


def test_subject_is_short_ascii() -> None:
    event = make_event(EventType.PROMOTED, **COMMON, stage="prod")
    assert event.subject() == "EKS-D 1-30-58 release.promoted (prod)"
    long = make_event(EventType.PROMOTED, **COMMON, stage="p" + "x" * 31)
    assert len(long.subject()) <= 100
    assert long.subject().isascii()


def test_in_memory_publisher_keeps_events_in_order() -> None:
    publisher = InMemoryPublisher()
    events = example_events()
    for event in events:
        publisher.publish(event)
    assert publisher.events == events
    assert isinstance(publisher.events[8], ReleasePromoted)
