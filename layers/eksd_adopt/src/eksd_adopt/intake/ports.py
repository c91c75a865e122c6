"""The intake's one outward port besides the ledger and events: starting the adoption workflow."""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, ConfigDict

from eksd_adopt.workflow.models import AdoptionInput


class StartedExecution(BaseModel):
    model_config = ConfigDict(frozen=True)

    execution_arn: str
    already_existed: bool = False  # the name was taken: the adoption had already started


class WorkflowStarter(Protocol):
    def start(self, name: str, workflow_input: AdoptionInput) -> StartedExecution:
        """Start execution ``name``; an existing execution of that name counts as started (idempotent).

        Raises :class:`~eksd_adopt.intake.errors.WorkflowStartError` when the start should be retried.
        """
        ...


class InMemoryWorkflowStarter:
    """Keeps executions by name, as Step Functions does (tests and dry runs)."""

    def __init__(
        self, state_machine_arn: str = "arn:aws:states:us-east-1:123456789012:stateMachine:eksd-adopt-release"
    ) -> None:
        self.state_machine_arn = state_machine_arn
        self.executions: dict[str, AdoptionInput] = {}
        self.calls = 0

    def start(self, name: str, workflow_input: AdoptionInput) -> StartedExecution:
        self.calls += 1
        arn = self.state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"
        if name in self.executions:
            return StartedExecution(execution_arn=arn, already_existed=True)
        self.executions[name] = workflow_input
        return StartedExecution(execution_arn=arn)
