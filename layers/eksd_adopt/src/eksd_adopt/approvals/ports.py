"""What the approval use cases need from the outside world, as protocols (boto3 lives behind them)."""

from __future__ import annotations

from typing import Any, Protocol

from eksd_adopt.approvals.models import ApprovalRequest, ApprovalStatus, ApprovalVote


class ApprovalStore(Protocol):
    """Pending and decided approval gates (DynamoDB, KMS-encrypted: holds task tokens)."""

    def put(self, request: ApprovalRequest) -> None:
        """Create or replace the gate of (release, stage) with a new pending request."""
        ...

    def get(self, release_id: str, stage: str) -> ApprovalRequest | None: ...

    def list(self, status: ApprovalStatus | None = None) -> list[ApprovalRequest]: ...

    def add_vote(self, release_id: str, stage: str, vote: ApprovalVote) -> ApprovalRequest:
        """Append a vote while the gate is pending and the approver has not voted; else ApprovalStateError."""
        ...

    def close(self, release_id: str, stage: str, status: ApprovalStatus) -> bool:
        """Move a pending gate to ``status``; False when it was no longer pending (someone else closed it)."""
        ...


class TaskCallbacks(Protocol):
    """Step Functions' callback API: resumes the execution waiting on a task token."""

    def succeed(self, task_token: str, output: dict[str, Any]) -> None: ...

    def fail(self, task_token: str, error: str, cause: str) -> None: ...


class ApproverNotifier(Protocol):
    def notify(self, subject: str, message: str, attributes: dict[str, str]) -> None: ...
