"""In-memory stand-ins of the approvals table and of Step Functions' callbacks, and a gate opened in them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from eksd_adopt.approvals.errors import ApprovalStateError
from eksd_adopt.approvals.models import ApprovalRequest, ApprovalStatus, ApprovalVote
from eksd_adopt.ledger import InMemoryLedger, ReleaseRecord, ReleaseStatus

ROLE = "arn:aws:iam::111122223333:role/Approvers"
BOB = "arn:aws:iam::111122223333:user/bob"


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
