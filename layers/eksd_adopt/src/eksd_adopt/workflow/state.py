"""The workflow's state as the steps after Validate receive it: the release, the stored plan's reference and,
once Verify has run, the verified images' reference. It stays small whatever the release's size (Step
Functions holds every state to 256 KiB): the jobs and the images are documents in the bucket."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from eksd_adopt.plan import CopyPlan
from eksd_adopt.workflow.checks import StagedImage, StagedRef, load_staged_images
from eksd_adopt.workflow.errors import WorkflowInputError
from eksd_adopt.workflow.models import ReleaseRef
from eksd_adopt.workflow.plans import PlanRef, load_plan
from eksd_adopt.workflow.ports import DocumentStore
from eksd_adopt.workflow.records import PromotionEvidence


class AdoptionState(BaseModel):
    """What Verify, SmokeTest and Promote are handed (the ASL passes each exactly these keys)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    release: ReleaseRef
    plan: PlanRef
    staged: StagedRef | None = None  # Verify's reference to the images it verified; None before Verify

    def copy_plan(self, store: DocumentStore) -> CopyPlan:
        """The stored plan, checked against the reference's sha256."""
        return load_plan(self.plan, store)

    def staged_images(self, store: DocumentStore) -> list[StagedImage]:
        """The images Verify verified, checked against the reference's sha256."""
        if self.staged is None:
            raise WorkflowInputError(f"the state of {self.release.release_id} names no verified images (staged)")
        return load_staged_images(self.staged, self.release.release_id, store)


class PromotionState(AdoptionState):
    """Promote's share of the state: a verified release, the stage it is promoted into, and what the signed
    adoption record needs from the state (the state's entry time, the execution, the checks' summaries)."""

    staged: StagedRef
    stage: str
    recorded_at: datetime  # $$.State.EnteredTime: the same on each retry, so a retry writes the same record
    execution: str  # $$.Execution.Id
    verification: dict[str, Any]  # $.verify.verification
    tests: dict[str, Any]  # $.tests: smoke, team, tested_at

    def evidence(self) -> PromotionEvidence:
        return PromotionEvidence(
            recorded_at=self.recorded_at, execution=self.execution, verification=self.verification, tests=self.tests
        )
