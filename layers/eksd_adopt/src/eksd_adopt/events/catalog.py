"""One real example of every event and the documented filter-policy examples (docs/events.md is built from them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import NAMESPACE_URL, uuid5

from eksd_adopt.events.filters import EventFilter
from eksd_adopt.events.model import EventType, ReleaseEvent, make_event

_AT = datetime(2025, 6, 3, 14, 7, 12, tzinfo=UTC)
_CHANNEL, _NUMBER, _VERSION = "1-30", 58, "v1.30.11"
_BUCKET = "s3://eksd-adopt-artifacts-111122223333"
_STAGED = f"{_BUCKET}/eksd/staging/kubernetes-1-30/kubernetes-1-30-eks-58.yaml"
_PROD = f"{_BUCKET}/eksd/prod/kubernetes-1-30/kubernetes-1-30-eks-58.yaml"
_APPROVER = "arn:aws:sts::111122223333:assumed-role/EksdApprovers/alice"
_SECOND = "arn:aws:sts::111122223333:assumed-role/EksdApprovers/bob"

# event type -> (stage, manifest location, detail), with realistic values.
_EXAMPLES: dict[EventType, tuple[str | None, str | None, dict[str, object]]] = {
    EventType.DETECTED: (
        None,
        "https://distro.eks.amazonaws.com/kubernetes-1-30/kubernetes-1-30-eks-58.yaml",
        {
            "announced": True,
            "execution_arn": "arn:aws:states:eu-west-1:111122223333:execution:eksd-adopt-release:1-30-58",
            "manifest_url": "https://distro.eks.amazonaws.com/kubernetes-1-30/kubernetes-1-30-eks-58.yaml",
            "manifest_sha256": "9f2c1e0d8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e",
        },
    ),
    EventType.MIRRORED: ("staging", None, {"images": 17, "archives": 45, "bytes": 2351720448}),
    EventType.VERIFIED: ("staging", _STAGED, {"checks": 96, "images": 17, "archives": 45, "bytes": 2351720448}),
    EventType.TESTED: (
        "staging",
        _STAGED,
        {"smoke": {"name": "smoke", "checks": 34, "failed": 0}, "team": {"suite": "conformance-lite", "passed": 12}},
    ),
    EventType.AWAITING_APPROVAL: (
        "prod",
        _STAGED,
        {
            "diff": {"from_release_id": "1-30-57", "changed_images": 3, "changed_archives": 9},
            "expires_at": (_AT + timedelta(days=3)).isoformat(),
            "required_approvals": 2,
        },
    ),
    EventType.APPROVED: ("prod", _STAGED, {"approvers": [_APPROVER, _SECOND], "comment": "CVE fixes; soaked in dev"}),
    EventType.REJECTED: (
        "prod",
        _STAGED,
        {"approver": _APPROVER, "comment": "wait for the etcd fix in -59", "error": "Rejected", "cause": ""},
    ),
    EventType.EXPIRED: (
        "prod",
        _STAGED,
        {"expires_at": _AT.isoformat(), "error": "States.Timeout", "cause": "no decision within 259200 seconds"},
    ),
    EventType.PROMOTED: (
        "prod",
        _PROD,
        {
            "images": 17,
            "archives": 45,
            "bytes": 2351720448,
            "parameter": "/eksd-adopt/prod/1-30",
            "record_key": "eksd/prod/kubernetes-1-30/kubernetes-1-30-eks-58.promotion.20250603T140712Z.intoto.jsonl",
        },
    ),
    EventType.ROLLED_BACK: (
        "prod",
        f"{_BUCKET}/eksd/prod/kubernetes-1-30/kubernetes-1-30-eks-57.yaml",
        {
            "from_release_id": "1-30-58",
            "by": _APPROVER,
            "record_key": "eksd/prod/kubernetes-1-30/kubernetes-1-30-eks-57.rollback.20250603T140712Z.intoto.jsonl",
        },
    ),
    EventType.FAILED: (
        "staging",
        None,
        {
            "error": "ArchiveChecksumError",
            "cause": "kubernetes-server-linux-amd64.tar.gz: sha512 differs from the manifest",
            "step": "Mirror",
        },
    ),
    EventType.NOTIFICATION_MISSED: (
        None,
        None,
        {"outcome": "started", "first_seen": (_AT - timedelta(hours=6)).isoformat()},
    ),
}


def example_event(event_type: EventType) -> ReleaseEvent:
    """A realistic, fixed example of one event type (the same bytes on every run)."""
    stage, location, detail = _EXAMPLES[event_type]
    number = 57 if event_type is EventType.ROLLED_BACK else _NUMBER
    return make_event(
        event_type,
        release_id=f"{_CHANNEL}-{number}",
        channel=_CHANNEL,
        number=number,
        kubernetes_version="v1.30.10" if number == 57 else _VERSION,
        stage=stage,
        manifest_location=location,
        occurred_at=_AT,
        event_id=str(uuid5(NAMESPACE_URL, f"eksd-adopt:example:{event_type.value}")),
        **detail,
    )


def example_events() -> list[ReleaseEvent]:
    return [example_event(t) for t in EventType]


# The filter examples the docs show; the integration suite subscribes with exactly these against moto.
FILTER_EXAMPLES: dict[str, EventFilter] = {
    "Only 1-30 promoted events": EventFilter.of(channels=["1-30"], event_types=[EventType.PROMOTED]),
    "All failures (any channel, any stage)": EventFilter.of(event_types=[EventType.FAILED]),
    "Everything that needs or records a prod decision": EventFilter.of(
        event_types=[EventType.AWAITING_APPROVAL, EventType.APPROVED, EventType.REJECTED, EventType.EXPIRED],
        stages=["prod"],
    ),
    "Promotions and rollbacks of Kubernetes 1.30 and 1.31": EventFilter.of(
        event_types=[EventType.PROMOTED, EventType.ROLLED_BACK], kubernetes_minors=["1.30", "1.31"]
    ),
}
