"""Operability: what the service measures about itself beyond what each step reports (pending approvals)."""

from eksd_adopt.monitoring.approvals import (
    PendingApproval,
    PendingApprovalSource,
    PendingApprovalsReport,
    summarize_pending,
)

__all__ = ["PendingApproval", "PendingApprovalSource", "PendingApprovalsReport", "summarize_pending"]
