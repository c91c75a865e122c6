"""Who counts as an approver: a user per user ARN, a role once whatever its session names, unless the rule says
its sessions are distinct people (then each session counts)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from eksd_adopt.approvals.errors import ApprovalStateError
from eksd_adopt.approvals.gates import decide
from eksd_adopt.approvals.models import ApprovalStatus, StageRule
from eksd_adopt.approvals.principals import counted_as, principal_matches
from eksd_adopt.events import InMemoryPublisher
from eksd_adopt.workflow.config import ApprovalsSettings
from tests.unit.approvals.fakes import BOB, ROLE, FakeApprovals, FakeCallbacks, gate

ALICE = "arn:aws:sts::111122223333:assumed-role/Approvers/alice"
ALICE_AGAIN = "arn:aws:sts::111122223333:assumed-role/Approvers/alice-laptop"  # the same person, another session
CAROL = "arn:aws:sts::111122223333:assumed-role/Approvers/carol"
SSO_ROLE = "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Approver_0123456789abcdef"
SSO_ALICE = "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Approver_0123456789abcdef/alice@example.com"


def vote(rule: StageRule, caller: str, approvals: FakeApprovals, callbacks: FakeCallbacks, ledger: Any) -> Any:
    return decide(
        caller,
        "1-30-58",
        "prod",
        "approve",
        None,
        rules={"prod": rule},
        approvals=approvals,
        callbacks=callbacks,
        ledger=ledger,
        publisher=InMemoryPublisher(),
    )


def test_two_sessions_of_one_role_count_once_and_the_gate_stays_open() -> None:
    approvals, ledger = gate(required=2)
    callbacks = FakeCallbacks()
    rule = StageRule(approvers=(ROLE, BOB), required_approvals=2)
    first = vote(rule, ALICE, approvals, callbacks, ledger)
    assert (first.counted_as, first.approvals, first.status) == (ROLE, 1, ApprovalStatus.PENDING)
    with pytest.raises(ApprovalStateError):
        vote(rule, ALICE_AGAIN, approvals, callbacks, ledger)
    with pytest.raises(ApprovalStateError):
        vote(rule, CAROL, approvals, callbacks, ledger)  # whoever she is, the role has decided
    assert callbacks.calls == [] and approvals.get("1-30-58", "prod").status is ApprovalStatus.PENDING
    assert approvals.get("1-30-58", "prod").approvers() == {ROLE}
    second = vote(rule, BOB, approvals, callbacks, ledger)
    assert (second.approvals, second.status) == (2, ApprovalStatus.APPROVED)
    assert [c[0] for c in callbacks.calls] == ["succeed"] and callbacks.calls[0][2]["approvers"] == sorted([BOB, ROLE])
    assert [d.approver for d in ledger.get("1-30-58").decisions] == [ALICE, BOB]  # the audit keeps who signed


def test_sessions_of_a_role_whose_sessions_are_people_count_one_by_one() -> None:
    approvals, ledger = gate(required=2)
    callbacks = FakeCallbacks()
    rule = StageRule(approvers=(ROLE,), required_approvals=2, distinct_session_roles=(ROLE,))
    assert vote(rule, ALICE, approvals, callbacks, ledger).counted_as == ALICE
    with pytest.raises(ApprovalStateError):
        vote(rule, ALICE, approvals, callbacks, ledger)  # the same session twice is still one
    outcome = vote(rule, CAROL, approvals, callbacks, ledger)
    assert (outcome.approvals, outcome.status) == (2, ApprovalStatus.APPROVED)
    assert [c[0] for c in callbacks.calls] == ["succeed"]


def test_users_count_per_user_arn_and_roles_match_by_account_and_name_whatever_their_path() -> None:
    assert counted_as(BOB, ()) == BOB
    assert counted_as("arn:aws:iam::111122223333:root", ()) == "arn:aws:iam::111122223333:root"
    assert counted_as(SSO_ALICE, ()) == "arn:aws:iam::111122223333:role/AWSReservedSSO_Approver_0123456789abcdef"
    assert counted_as(SSO_ALICE, (SSO_ROLE,)) == SSO_ALICE
    assert principal_matches(SSO_ALICE, SSO_ROLE)
    assert not principal_matches(SSO_ALICE.replace("111122223333", "999999999999"), SSO_ROLE)
    assert not principal_matches(ALICE, "arn:aws-us-gov:iam::111122223333:role/Approvers")
    assert not principal_matches("arn:aws:sts::111122223333:assumed-role/Approvers/a\n", ROLE)


def test_a_listed_session_or_federated_user_needs_a_role_whose_sessions_are_people() -> None:
    with pytest.raises(ValidationError, match="session of role arn:aws:iam::111122223333:role/Approvers"):
        StageRule(approvers=(ALICE,))
    assert StageRule(approvers=(ALICE,), distinct_session_roles=(ROLE,)).counted_as(ALICE) == ALICE
    with pytest.raises(ValidationError, match="federated user"):
        StageRule(approvers=("arn:aws:sts::111122223333:federated-user/alice",))
    with pytest.raises(ValidationError, match="must be IAM role ARNs"):
        StageRule(approvers=(BOB,), distinct_session_roles=(BOB,))


def test_the_deployment_wide_session_roles_reach_every_stage_rule() -> None:
    env = {
        "LEDGER_TABLE": "ledger",
        "ARCHIVE_BUCKET": "bucket",
        "STAGE_RULES": json.dumps(
            {"prod": {"approvers": [SSO_ROLE], "required_approvals": 2}, "dr": {"approvers": []}}
        ),
        "APPROVER_SESSION_ROLES": f" {SSO_ROLE} ,",
    }
    rules = ApprovalsSettings.from_env(env).stage_rules
    assert rules["prod"].distinct_session_roles == (SSO_ROLE,) and rules["dr"].distinct_session_roles == (SSO_ROLE,)
    assert ApprovalsSettings.from_env({**env, "APPROVER_SESSION_ROLES": ""}).stage_rules["prod"].counted_as(
        SSO_ALICE
    ) == ("arn:aws:iam::111122223333:role/AWSReservedSSO_Approver_0123456789abcdef")
