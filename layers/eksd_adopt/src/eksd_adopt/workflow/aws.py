"""The workflow's data access: S3 documents and SSM pointers.

The only module of the workflow package that touches boto3; AWS errors become domain errors here.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.exceptions import ClientError

from eksd_adopt.errors import EksdAdoptError
from eksd_adopt.workflow.errors import ArtifactMissingError
from eksd_adopt.workflow.models import StagePointer
from eksd_adopt.workflow.promotion import parameter_name


class ManifestConflictError(EksdAdoptError):
    """Different bytes were offered for a write-once manifest key."""


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class S3DocumentStore:
    """Documents by ``s3://bucket/key`` location; without a bucket it only reads (each location names its own)."""

    def __init__(self, bucket: str | None, *, client: Any | None = None) -> None:
        self.bucket = bucket
        self.s3 = client or boto3.client("s3")

    def location(self, key: str) -> str:
        return f"s3://{self._writable(key)}/{key}"

    def _writable(self, key: str) -> str:
        if not self.bucket:
            raise ValueError(f"no bucket to store {key} in: this document store only reads")
        return self.bucket

    def put(self, key: str, body: bytes, *, write_once: bool = False, content_type: str = "application/yaml") -> str:
        bucket, location = self._writable(key), self.location(key)
        if write_once:
            try:
                existing = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            except ClientError as exc:
                if _code(exc) not in ("NoSuchKey", "404"):
                    raise
            else:
                if hashlib.sha256(existing).digest() != hashlib.sha256(body).digest():
                    raise ManifestConflictError(f"{location} exists with different content")
                return location
        self.s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=body,
            ContentType=content_type,
            ChecksumAlgorithm="SHA256",
        )
        return location

    def get(self, location: str) -> bytes:
        parts = urlsplit(location)
        if parts.scheme != "s3" or not parts.netloc:
            raise ArtifactMissingError(f"{location} is not an s3:// location")
        try:
            body: bytes = self.s3.get_object(Bucket=parts.netloc, Key=parts.path.lstrip("/"))["Body"].read()
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404", "NoSuchBucket"):
                raise ArtifactMissingError(f"{location} does not exist") from exc
            raise
        return body


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
