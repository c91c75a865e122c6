"""The stage pointers read from SSM for verification (boto3 lives here and in :mod:`eksd_adopt.attestation.kms`)."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from eksd_adopt.attestation.errors import AttestationError
from eksd_adopt.attestation.ports import StagePointer

# The parameter the promotion moves last (eksd_adopt.workflow.promotion.parameter_name; a test keeps them equal).
POINTER_PARAMETER = "/eksd-adopt/{stage}/{channel}"
MAX_POINTER_BYTES = 4096  # an SSM String parameter of the standard tier holds at most 4 KB


class SsmStagePointers:
    """:class:`~eksd_adopt.attestation.ports.StagePointers` on SSM: needs ``ssm:GetParameter`` only."""

    def __init__(self, *, client: Any | None = None) -> None:
        self.ssm = client or boto3.client("ssm")

    def current(self, stage: str, channel: str) -> StagePointer | None:
        name = POINTER_PARAMETER.format(stage=stage, channel=channel)
        try:
            value = self.ssm.get_parameter(Name=name)["Parameter"]["Value"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ParameterNotFound":
                return None
            raise AttestationError(f"{name}: GetParameter failed ({exc})") from exc
        except BotoCoreError as exc:
            raise AttestationError(f"{name}: GetParameter failed ({exc})") from exc
        if not isinstance(value, str) or len(value) > MAX_POINTER_BYTES:
            raise AttestationError(f"{name}: the pointer is not a string of at most {MAX_POINTER_BYTES} bytes")
        try:
            return StagePointer.model_validate_json(value)
        except ValidationError as exc:
            raise AttestationError(f"{name}: not a stage pointer: {exc.errors()[0]['msg']}") from exc
