"""Intake: hear about EKS-D releases (notifications, the channel reconciler, the CLI) and start one adoption each."""

from eksd_adopt.intake.errors import (
    InvalidManifestError,
    ManifestChangedError,
    ManifestNotPublishedError,
    ReconcileError,
    WorkflowStartError,
)
from eksd_adopt.intake.models import AdoptOutcome, AdoptRequest, AdoptResult, ReconcileReport
from eksd_adopt.intake.ports import StartedExecution, WorkflowStarter
from eksd_adopt.intake.service import IntakeService, execution_name
from eksd_adopt.intake.settings import IntakeSettings

__all__ = [
    "AdoptOutcome",
    "AdoptRequest",
    "AdoptResult",
    "IntakeService",
    "IntakeSettings",
    "InvalidManifestError",
    "ManifestChangedError",
    "ManifestNotPublishedError",
    "ReconcileError",
    "ReconcileReport",
    "StartedExecution",
    "WorkflowStartError",
    "WorkflowStarter",
    "execution_name",
]
