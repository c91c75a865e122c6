"""Gates and decisions on in-memory fakes: distinct approvers, refusals, rejections, and the diff approvers see."""

from __future__ import annotations

from typing import Any

import pytest

from eksd_adopt.approvals.errors import ApprovalStateError, NotAnApproverError
from eksd_adopt.approvals.gates import decide, diff_manifests
from eksd_adopt.approvals.models import ApprovalStatus, StageRule
from eksd_adopt.approvals.principals import principal_matches
from eksd_adopt.events import InMemoryPublisher
from eksd_adopt.ledger import InMemoryLedger, ReleaseStatus
from tests.unit.approvals.fakes import BOB, ROLE, FakeApprovals, FakeCallbacks, gate

RULES = {"prod": StageRule(approvers=(ROLE, BOB), required_approvals=2)}
EVENTS = InMemoryPublisher()


def _decide(
    caller: str,
    decision: str,
    approvals: FakeApprovals,
    ledger: InMemoryLedger,
    callbacks: FakeCallbacks,
    comment: str | None = None,
) -> Any:
    return decide(
        caller,
        "1-30-58",
        "prod",
        decision,
        comment,
        rules=RULES,
        approvals=approvals,
        callbacks=callbacks,
        ledger=ledger,
        publisher=EVENTS,
    )


def test_role_sessions_match_their_role_only() -> None:
    assert principal_matches("arn:aws:sts::111122223333:assumed-role/Approvers/alice", ROLE)
    assert not principal_matches("arn:aws:sts::999999999999:assumed-role/Approvers/alice", ROLE)
    assert not principal_matches("arn:aws:sts::111122223333:assumed-role/ApproversX/alice", ROLE)
    assert principal_matches(BOB, BOB) and not principal_matches("arn:aws:iam::111122223333:user/bobby", BOB)


def test_two_distinct_approvers_resume_the_workflow_once() -> None:
    approvals, ledger = gate(required=2)
    callbacks = FakeCallbacks()
    first = _decide("arn:aws:sts::111122223333:assumed-role/Approvers/alice", "approve", approvals, ledger, callbacks)
    assert first.status is ApprovalStatus.PENDING and callbacks.calls == []
    with pytest.raises(ApprovalStateError):
        _decide("arn:aws:sts::111122223333:assumed-role/Approvers/alice", "approve", approvals, ledger, callbacks)
    second = _decide(BOB, "approve", approvals, ledger, callbacks)
    assert second.status is ApprovalStatus.APPROVED
    assert [c[0] for c in callbacks.calls] == ["succeed"] and callbacks.calls[0][1] == "token-1"
    assert ledger.get("1-30-58").status is ReleaseStatus.APPROVED
    assert len(ledger.get("1-30-58").decisions) == 2
    approved = [e for e in EVENTS.events if e.event_type.value == "release.approved" and e.release_id == "1-30-58"]
    assert approved and approved[-1].detail["approvers"] == [
        "arn:aws:sts::111122223333:assumed-role/Approvers/alice",
        BOB,
    ]


def test_outsider_is_refused_and_nothing_recorded() -> None:
    approvals, ledger = gate()
    with pytest.raises(NotAnApproverError):
        _decide("arn:aws:iam::111122223333:user/mallory", "approve", approvals, ledger, FakeCallbacks())
    assert ledger.get("1-30-58").decisions == [] and approvals.get("1-30-58", "prod").votes == []


def test_reject_needs_a_reason_and_fails_the_token() -> None:
    approvals, ledger = gate()
    callbacks = FakeCallbacks()
    with pytest.raises(ValueError, match="reason"):
        _decide(BOB, "reject", approvals, ledger, callbacks)
    _decide(BOB, "reject", approvals, ledger, callbacks, comment="broken etcd")
    assert callbacks.calls[0][0] == "fail" and callbacks.calls[0][2][0] == "ReleaseRejected"
    assert approvals.get("1-30-58", "prod").status is ApprovalStatus.REJECTED


def test_unknown_stage_and_decision_are_refused() -> None:
    approvals, ledger = gate()
    with pytest.raises(ApprovalStateError, match="staging"):
        decide(
            BOB,
            "1-30-58",
            "staging",
            "approve",
            None,
            rules=RULES,
            approvals=approvals,
            callbacks=FakeCallbacks(),
            ledger=ledger,
        )
    with pytest.raises(ValueError, match="approve or reject"):
        _decide(BOB, "maybe", approvals, ledger, FakeCallbacks())


def _manifest(versions: dict[str, str]) -> dict[str, Any]:
    return {"status": {"components": [{"name": n, "gitTag": v, "assets": []} for n, v in versions.items()]}}


def test_diff_lists_added_removed_and_changed() -> None:
    diff = diff_manifests(
        _manifest({"kubernetes": "v1.30.1", "etcd": "v3.5.1", "old": "v1"}),
        _manifest({"kubernetes": "v1.30.2", "etcd": "v3.5.1", "new": "v2"}),
        "1-30-57",
    )
    assert [(c.component, c.before, c.after) for c in diff.changed] == [("kubernetes", "v1.30.1", "v1.30.2")]
    assert [c.component for c in diff.added] == ["new"] and [c.component for c in diff.removed] == ["old"]
    assert diff_manifests(None, _manifest({"a": "1"}), None).added[0].component == "a"
