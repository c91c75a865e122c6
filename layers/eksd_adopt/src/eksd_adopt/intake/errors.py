"""Intake errors: which failures a caller should retry (the SQS message comes back) and which it should not."""

from __future__ import annotations

from eksd_adopt.errors import EksdAdoptError


class ManifestNotPublishedError(EksdAdoptError):
    """Upstream answered 403/404 for a release it announced: the CDN may lag, so the caller retries later."""


class InvalidManifestError(EksdAdoptError):
    """The manifest failed validation; it is in the ledger as ``invalid`` with every problem listed."""

    def __init__(self, release_id: str, problems: list[str]) -> None:
        super().__init__(
            f"release {release_id}: the manifest is invalid ({len(problems)} problem(s)): " + "; ".join(problems)
        )
        self.release_id = release_id
        self.problems = problems


class ManifestChangedError(EksdAdoptError):
    """A manifest upstream writes once now hashes differently from the one recorded: refuse, an operator must look."""


class WorkflowStartError(EksdAdoptError):
    """Step Functions refused or failed to start an execution for a reason worth retrying (throttling, outage)."""


class ReconcileError(EksdAdoptError):
    """Some channels or releases could not be reconciled (the rest were)."""
