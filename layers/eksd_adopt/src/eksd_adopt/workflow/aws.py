"""The workflow's data access to SSM (the per-stage release pointers consumers read) and to the promotion
function (a rollback's signed record).

The only module of the workflow package that touches boto3; AWS errors become domain errors here.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from eksd_adopt.workflow.errors import RollbackError
from eksd_adopt.workflow.models import StagePointer
from eksd_adopt.workflow.promotion import parameter_name
from eksd_adopt.workflow.records import RollbackRequest


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class SsmReleasePointers:
    def __init__(self, *, client: Any | None = None, kms_key_id: str | None = None) -> None:
        self.ssm = client or boto3.client("ssm")
        self.kms_key_id = kms_key_id

    def get(self, stage: str, channel: str) -> StagePointer | None:
        try:
            value = self.ssm.get_parameter(Name=parameter_name(stage, channel))["Parameter"]["Value"]
        except ClientError as exc:
            if _code(exc) == "ParameterNotFound":
                return None
            raise
        return StagePointer.model_validate_json(value)

    def put(self, stage: str, pointer: StagePointer) -> None:
        self.ssm.put_parameter(
            Name=parameter_name(stage, pointer.channel),
            Value=pointer.model_dump_json(),
            Type="String",
            Overwrite=True,
            Description=f"Current EKS-D release of channel {pointer.channel} in stage {stage}",
        )


# A synchronous invocation's response is at most 6 MB (Lambda quotas: "Invocation payload (request and
# response) ... 6 MB each for request and response (synchronous)",
# https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html); the answer here is one key.
MAX_ROLLBACK_ANSWER = 64 * 1024


class LambdaRollbackRecorder:
    """:class:`~eksd_adopt.workflow.promotion.RollbackRecorder` through the promotion function, the only holder
    of ``kms:Sign`` (the caller needs ``lambda:InvokeFunction`` on it and nothing on the key)."""

    def __init__(self, function_name: str, *, client: Any | None = None) -> None:
        self.function_name = function_name
        self.lambda_ = client or boto3.client("lambda")

    def record_rollback(self, request: RollbackRequest) -> str:
        """The record's key; RollbackError (the endpoint answers 409, the pointer stays) when it was not written."""
        body = json.dumps({"rollback": request.model_dump(mode="json")}).encode()
        try:
            answer = self.lambda_.invoke(
                FunctionName=self.function_name, InvocationType="RequestResponse", Payload=body
            )
        except (ClientError, BotoCoreError) as exc:
            raise RollbackError(
                f"the rollback's signed record could not be requested from {self.function_name}: {exc}"
            ) from exc
        payload = answer["Payload"].read(MAX_ROLLBACK_ANSWER + 1)
        if len(payload) > MAX_ROLLBACK_ANSWER:
            raise RollbackError(f"{self.function_name} answered more than {MAX_ROLLBACK_ANSWER} bytes")
        try:
            document = json.loads(payload)
        except ValueError as exc:
            raise RollbackError(f"{self.function_name} answered something other than JSON") from exc
        if answer.get("FunctionError") or not isinstance(document, dict):
            message = document.get("errorMessage") if isinstance(document, dict) else None
            raise RollbackError(f"the rollback's signed record was not written: {str(message or document)[:2000]}")
        key = document.get("record_key")
        if not isinstance(key, str) or not key.endswith(".intoto.jsonl") or len(key) > 1024:
            raise RollbackError(f"{self.function_name} answered no record key ({str(document)[:200]})")
        return key
