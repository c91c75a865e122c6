"""Data access for the intake: Step Functions (the only module here that touches boto3)."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from eksd_adopt.intake.errors import WorkflowStartError
from eksd_adopt.intake.ports import StartedExecution
from eksd_adopt.workflow.models import AdoptionInput


def execution_arn(state_machine_arn: str, name: str) -> str:
    """The ARN Step Functions gives execution ``name`` of a standard state machine."""
    return state_machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{name}"


class StepFunctionsWorkflowStarter:
    def __init__(self, state_machine_arn: str, *, client: Any | None = None) -> None:
        self.state_machine_arn = state_machine_arn
        self.client = client or boto3.client("stepfunctions")

    def start(self, name: str, workflow_input: AdoptionInput) -> StartedExecution:
        try:
            response = self.client.start_execution(
                stateMachineArn=self.state_machine_arn, name=name, input=workflow_input.model_dump_json()
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "ExecutionAlreadyExists":
                # The name is the release's: it started before (a redelivery or a lost race). That is success.
                return StartedExecution(execution_arn=execution_arn(self.state_machine_arn, name), already_existed=True)
            raise WorkflowStartError(f"cannot start {name} on {self.state_machine_arn}: {code}: {exc}") from exc
        except BotoCoreError as exc:
            raise WorkflowStartError(f"cannot start {name} on {self.state_machine_arn}: {exc}") from exc
        return StartedExecution(execution_arn=str(response["executionArn"]))
