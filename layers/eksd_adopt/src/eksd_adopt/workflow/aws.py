"""The workflow's data access to SSM: the per-stage release pointers consumers read.

The only module of the workflow package that touches boto3; AWS errors become domain errors here.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.exceptions import ClientError

from eksd_adopt.workflow.models import StagePointer
from eksd_adopt.workflow.promotion import parameter_name


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
