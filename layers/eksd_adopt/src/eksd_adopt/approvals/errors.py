"""Approval errors: a decision that cannot be taken (the endpoint answers 403 or 409, the CLI exits non-zero)."""

from __future__ import annotations

from eksd_adopt.errors import EksdAdoptError


class ApprovalError(EksdAdoptError):
    """A decision cannot be taken (base of the approval errors; the CLI exits non-zero)."""


class NotAnApproverError(ApprovalError):
    """The signed caller is not among the stage's approvers."""


class ApprovalStateError(ApprovalError):
    """No pending gate for that release and stage, or this approver has already voted."""


class StageNotConfiguredError(ApprovalError):
    """A gate was opened for a stage no rule names (STAGE_RULES): nobody could ever approve it."""


class ApprovalsReadError(EksdAdoptError):
    """The approvals table could not be read."""


class ApprovalNotFoundError(ApprovalError):
    """No approval was ever requested for that release and stage."""
