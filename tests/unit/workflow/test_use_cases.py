"""Workflow use cases on in-memory fakes: gates and decisions, diffs, manifests, rollback, outcomes, the ASL file."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from eksd_adopt.errors import ManifestError
from eksd_adopt.events import InMemoryPublisher
from eksd_adopt.ledger import InMemoryLedger, ReleaseRecord, ReleaseStatus
from eksd_adopt.ledger.store import mark_promoted
from eksd_adopt.workflow.approval import decide, diff_manifests, principal_matches
from eksd_adopt.workflow.errors import ApprovalStateError, NotAnApproverError, RollbackError, WorkflowInputError
from eksd_adopt.workflow.manifests import rewrite_manifest
from eksd_adopt.workflow.models import (
    ApprovalRequest,
    ApprovalStatus,
    ApprovalVote,
    ReleaseRef,
    StagePointer,
    StageRule,
)
from eksd_adopt.workflow.plans import load_plan
from eksd_adopt.workflow.promotion import OutcomeRequest, record_outcome, rollback
from eksd_adopt.workflow.steps import ValidateRequest, validate_and_plan

ROLE = "arn:aws:iam::111122223333:role/Approvers"
BOB = "arn:aws:iam::111122223333:user/bob"
ASL = Path(__file__).resolve().parents[3] / "infra" / "workflows" / "adopt_release.asl.json"


class FakeApprovals:
    def __init__(self) -> None:
        self.gates: dict[tuple[str, str], ApprovalRequest] = {}

    def put(self, request: ApprovalRequest) -> None:
        self.gates[(request.release_id, request.stage)] = request

    def get(self, release_id: str, stage: str) -> ApprovalRequest | None:
        return self.gates.get((release_id, stage))

    def list(self, status: ApprovalStatus | None = None) -> list[ApprovalRequest]:
        return [g for g in self.gates.values() if status in (None, g.status)]

    def add_vote(self, release_id: str, stage: str, vote: ApprovalVote) -> ApprovalRequest:
        gate = self.gates.get((release_id, stage))
        if (
            gate is None
            or gate.status is not ApprovalStatus.PENDING
            or (vote.counted_as or vote.approver) in {v.counted_as or v.approver for v in gate.votes}
        ):
            raise ApprovalStateError("not pending or already voted")
        gate.votes.append(vote)
        return gate

    def close(self, release_id: str, stage: str, status: ApprovalStatus) -> bool:
        gate = self.gates.get((release_id, stage))
        if gate is None or gate.status is not ApprovalStatus.PENDING:
            return False
        gate.status = status
        return True


class FakeCallbacks:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any]] = []

    def succeed(self, task_token: str, output: dict[str, Any]) -> None:
        self.calls.append(("succeed", task_token, output))

    def fail(self, task_token: str, error: str, cause: str) -> None:
        self.calls.append(("fail", task_token, (error, cause)))


class FakeStore:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def location(self, key: str) -> str:
        return f"s3://bucket/{key}"

    def put(self, key: str, body: bytes, *, write_once: bool = False, content_type: str = "application/yaml") -> str:
        self.objects[key] = body
        return self.location(key)

    def get(self, location: str) -> bytes:
        return self.objects[location.removeprefix("s3://bucket/")]


class FakePointers:
    def __init__(self) -> None:
        self.values: dict[tuple[str, str], StagePointer] = {}

    def get(self, stage: str, channel: str) -> StagePointer | None:
        return self.values.get((stage, channel))

    def put(self, stage: str, pointer: StagePointer) -> None:
        self.values[(stage, pointer.channel)] = pointer


def gate(required: int = 1) -> tuple[FakeApprovals, InMemoryLedger]:
    approvals, ledger = FakeApprovals(), InMemoryLedger()
    ledger.create(
        ReleaseRecord(release_id="1-30-58", channel="1-30", number=58, status=ReleaseStatus.AWAITING_APPROVAL)
    )
    approvals.put(
        ApprovalRequest(
            release_id="1-30-58",
            stage="prod",
            channel="1-30",
            number=58,
            task_token="token-1",
            required_approvals=required,
            requested_at=datetime.now(UTC),
        )
    )
    return approvals, ledger


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


def test_rewrite_pins_images_by_digest_and_refuses_unmapped_assets() -> None:
    document = {
        "status": {
            "components": [
                {
                    "name": "k",
                    "assets": [
                        {
                            "name": "pause-image",
                            "type": "Image",
                            "image": {"uri": "public.ecr.aws/eks-distro/kubernetes/pause:v1-eks-1-30-58"},
                        },
                        {
                            "name": "a.tar.gz",
                            "type": "Archive",
                            "archive": {"uri": "https://distro.eks.amazonaws.com/x/a.tar.gz"},
                        },
                    ],
                }
            ]
        }
    }
    images = {
        "public.ecr.aws/eks-distro/kubernetes/pause:v1-eks-1-30-58": (
            "reg.example/eksd/prod/eks-distro/kubernetes/pause",
            "sha256:" + "a" * 64,
        )
    }
    archives = {"https://distro.eks.amazonaws.com/x/a.tar.gz": "s3://bucket/eksd/prod/a.tar.gz"}
    out = rewrite_manifest(document, images=images, archives=archives)
    assets = out["status"]["components"][0]["assets"]
    assert assets[0]["image"] == {
        "uri": f"reg.example/eksd/prod/eks-distro/kubernetes/pause@sha256:{'a' * 64}",
        "imageDigest": "sha256:" + "a" * 64,
    }
    assert assets[1]["archive"]["uri"] == "s3://bucket/eksd/prod/a.tar.gz"
    assert document["status"]["components"][0]["assets"][0]["image"]["uri"].startswith(
        "public.ecr.aws"
    )  # input untouched
    with pytest.raises(ValueError, match=r"a\.tar\.gz"):
        rewrite_manifest(document, images=images, archives={})


def test_validate_refuses_a_manifest_that_changed_since_intake(manifest_1_20: str) -> None:
    request = ValidateRequest(
        release_id="1-20-1",
        channel="1-20",
        number=1,
        manifest_url="https://x",
        manifest_sha256="0" * 64,
        manifest_yaml=manifest_1_20,
    )
    with pytest.raises(WorkflowInputError, match="manifest_sha256"):
        validate_and_plan(request, store=FakeStore())


def test_validate_refuses_another_release_and_plans_without_the_text(manifest_1_20: str) -> None:
    sha = hashlib.sha256(manifest_1_20.encode()).hexdigest()
    with pytest.raises(ManifestError, match="not 1-20-2"):
        validate_and_plan(
            ValidateRequest(
                release_id="1-20-2",
                channel="1-20",
                number=2,
                manifest_url="https://x",
                manifest_sha256=sha,
                manifest_yaml=manifest_1_20,
            ),
            store=FakeStore(),
        )
    store, ledger = FakeStore(), InMemoryLedger()
    result = validate_and_plan(
        ValidateRequest(
            release_id="1-20-1",
            channel="1-20",
            number=1,
            manifest_url="https://x",
            manifest_sha256=sha,
            manifest_yaml=manifest_1_20,
        ),
        store=store,
        ledger=ledger,
    )
    assert result.release.manifest_location == "s3://bucket/eksd/upstream/kubernetes-1-20/kubernetes-1-20-eks-1.yaml"
    assert store.objects["eksd/upstream/kubernetes-1-20/kubernetes-1-20-eks-1.yaml"] == manifest_1_20.encode()
    assert ledger.get("1-20-1").status is ReleaseStatus.ADOPTING
    state = result.model_dump_json()
    assert "manifest_yaml" not in state and len(state) < 256 * 1024
    plan = load_plan(result.plan, store)
    assert result.plan.location == "s3://bucket/eksd/upstream/kubernetes-1-20/kubernetes-1-20-eks-1.plan.json"
    assert [(i.kind, i.index) for i in result.items] == [("image", n) for n in range(len(plan.images))] + [
        ("archive", n) for n in range(len(plan.archives))
    ]
    assert plan.images and plan.archives and "sha512" not in state  # the jobs stay in the bucket


def test_rollback_only_to_a_release_promoted_in_that_stage() -> None:
    ledger, pointers, store, events = InMemoryLedger(), FakePointers(), FakeStore(), InMemoryPublisher()
    for number in (57, 58):
        ledger.create(
            ReleaseRecord(release_id=f"1-30-{number}", channel="1-30", number=number, status=ReleaseStatus.ADOPTING)
        )
        store.put(f"eksd/prod/kubernetes-1-30/kubernetes-1-30-eks-{number}.yaml", b"x")
    mark_promoted(ledger, "1-30-57", "prod")
    ledger.create(ReleaseRecord(release_id="1-30-56", channel="1-30", number=56, status=ReleaseStatus.REJECTED))
    pointers.put(
        "prod", StagePointer(release_id="1-30-58", channel="1-30", number=58, manifest_location="s3://bucket/m58")
    )
    args: dict[str, Any] = {
        "rules": RULES,
        "ledger": ledger,
        "pointers": pointers,
        "store": store,
        "publisher": events,
        "prefix": "eksd",
    }
    with pytest.raises(RollbackError, match="never promoted"):
        rollback(BOB, "prod", "1-30", 56, **args)
    with pytest.raises(NotAnApproverError):
        rollback("arn:aws:iam::111122223333:user/mallory", "prod", "1-30", 57, **args)
    pointer = rollback(BOB, "prod", "1-30", 57, **args)
    assert pointers.get("prod", "1-30") == pointer and pointer.release_id == "1-30-57"
    assert [e.event_type.value for e in events.events] == ["release.rolled_back"]
    assert events.events[0].detail["from_release_id"] == "1-30-58"
    with pytest.raises(RollbackError, match="already"):
        rollback(BOB, "prod", "1-30", 57, **args)


def test_outcome_records_status_event_and_closes_the_gate() -> None:
    approvals, ledger = gate()
    events = InMemoryPublisher()
    result = record_outcome(
        OutcomeRequest(
            release=ReleaseRef(release_id="1-30-58", channel="1-30", number=58),
            outcome="expired",
            stage="prod",
            error={"Error": "States.Timeout", "Cause": ""},
        ),
        ledger=ledger,
        approvals=approvals,
        publisher=events,
    )
    assert ledger.get("1-30-58").status is ReleaseStatus.EXPIRED
    assert approvals.get("1-30-58", "prod").status is ApprovalStatus.EXPIRED
    assert events.events[0].event_type.value == "release.expired" and "States.Timeout" in result["cause"]
    with pytest.raises(ValueError, match="outcome"):
        record_outcome(
            OutcomeRequest(release=ReleaseRef(release_id="1-30-58", channel="1-30", number=58), outcome="lost"),
            ledger=ledger,
            approvals=None,
            publisher=events,
        )


def test_asl_every_forward_task_has_a_catch_and_placeholders_are_known() -> None:
    definition = json.loads(ASL.read_text())
    top = definition["States"]
    for name in (
        "Validate",
        "Mirror",
        "Verify",
        "SmokeTest",
        "TeamTestLambda",
        "TeamTestStateMachine",
        "RecordTested",
        "Stages",
    ):
        assert top[name].get("Catch"), name
    assert top["Stages"]["ItemProcessor"]["States"]["AwaitApproval"]["Resource"].endswith(".waitForTaskToken")
    assert "TimeoutSecondsPath" in top["Stages"]["ItemProcessor"]["States"]["AwaitApproval"]
    assert top["Mirror"]["MaxConcurrencyPath"]
    placeholders = set(re.findall(r"\$\{(\w+)\}", ASL.read_text()))
    from eksd_adopt.local.aws import LocalAws

    assert placeholders == set(LocalAws().substitutions())
    assert yaml.safe_load(
        ASL.read_text()
    )  # plain JSON before substitution: CDK and the local runtime load the same text
