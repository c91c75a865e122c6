"""The bucket as an :class:`ArchiveStore` on S3: the only archive module that touches boto3.

Every body is sent with its SHA-256 (``ChecksumSHA256``; multipart uploads are created with
``ChecksumAlgorithm='SHA256'`` and each part carries its own), so S3 verifies what it stores.
Objects are encrypted with the bucket's default KMS key. botocore errors become domain errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from eksd_adopt.archives.errors import ArchiveMissingError, ArchiveStoreError
from eksd_adopt.archives.store import StoredObject, UploadedPart, sha256_b64

_MISSING = {"404", "NoSuchKey", "NotFound"}
COPY_OBJECT_LIMIT = 5 * 1024**3  # S3's CopyObject limit; EKS-D archives are far smaller
CONFLICT_ATTEMPTS = 4  # a conditional PUT answered 409 ConditionalRequestConflict is sent again, this often


def _conditional_conflict(exc: BaseException) -> bool:
    return isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") == "ConditionalRequestConflict"


def s3_client(max_pool_connections: int = 16) -> Any:
    """A client for the ambient configuration (honours AWS_ENDPOINT_URL); retries throttling and 5xx itself."""
    return boto3.client(
        "s3",
        config=Config(
            max_pool_connections=max_pool_connections,
            retries={"mode": "standard", "max_attempts": 5},
            # We send ChecksumSHA256 ourselves; no second (CRC32) checksum computed by botocore.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )


class S3ArchiveStore:
    def __init__(self, bucket: str, *, client: Any | None = None) -> None:
        self.bucket = bucket
        self.client = client or s3_client()

    def _fail(self, action: str, key: str, exc: Exception) -> ArchiveStoreError:
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            detail = f"{error.get('Code', '?')}: {error.get('Message', '')}".strip()
        else:
            detail = f"{type(exc).__name__}: {exc}"
        return ArchiveStoreError(f"s3://{self.bucket}/{key}: {action} failed ({detail})")

    def head(self, key: str) -> StoredObject | None:
        try:
            response = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                return None
            raise self._fail("HEAD", key, exc) from exc
        except BotoCoreError as exc:
            raise self._fail("HEAD", key, exc) from exc
        return StoredObject(
            key=key,
            size=int(response["ContentLength"]),
            metadata={k.lower(): v for k, v in response.get("Metadata", {}).items()},
            etag=response.get("ETag", "").strip('"'),
        )

    def _put(self, key: str, data: bytes, metadata: dict[str, str], content_type: str | None, **extra: Any) -> None:
        self.client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=data,
            ChecksumSHA256=sha256_b64(data),
            Metadata=metadata,
            ContentType=content_type or "application/octet-stream",
            **extra,
        )

    def put(self, key: str, data: bytes, *, metadata: dict[str, str], content_type: str | None = None) -> None:
        try:
            self._put(key, data, metadata, content_type)
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("PUT", key, exc) from exc

    def put_if_absent(
        self, key: str, data: bytes, *, metadata: dict[str, str], content_type: str | None = None
    ) -> bool:
        # S3 conditional write: atomic, so two writers racing cannot both win. S3 answers 412
        # PreconditionFailed when the key exists, and 409 ConditionalRequestConflict when a conflicting
        # operation was under way, which is no answer: "On a 409 failure you should retry the upload"
        # (PutObject, IfNoneMatch: https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html).
        try:
            for attempt in Retrying(
                retry=retry_if_exception(_conditional_conflict),
                stop=stop_after_attempt(CONFLICT_ATTEMPTS),
                wait=wait_random_exponential(multiplier=0.05, max=1.0),
                reraise=True,
            ):
                with attempt:
                    self._put(key, data, metadata, content_type, IfNoneMatch="*")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "PreconditionFailed":
                return False
            raise self._fail("conditional PUT", key, exc) from exc
        except BotoCoreError as exc:
            raise self._fail("conditional PUT", key, exc) from exc
        return True

    def get(self, key: str) -> bytes | None:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
            return bytes(response["Body"].read())
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                return None
            raise self._fail("GET", key, exc) from exc
        except BotoCoreError as exc:
            raise self._fail("GET", key, exc) from exc

    def iter_object(self, key: str, chunk_size: int) -> Iterator[bytes]:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                raise ArchiveMissingError(f"s3://{self.bucket}/{key}: no such object") from exc
            raise self._fail("GET", key, exc) from exc
        except BotoCoreError as exc:
            raise self._fail("GET", key, exc) from exc
        try:
            yield from body.iter_chunks(chunk_size)
        except BotoCoreError as exc:
            raise self._fail("GET (reading)", key, exc) from exc
        finally:
            body.close()

    def start_multipart(self, key: str, *, metadata: dict[str, str]) -> str:
        try:
            response = self.client.create_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                ChecksumAlgorithm="SHA256",
                Metadata=metadata,
                ContentType="application/octet-stream",
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("CreateMultipartUpload", key, exc) from exc
        return str(response["UploadId"])

    def upload_part(self, key: str, upload_id: str, number: int, data: bytes | bytearray) -> UploadedPart:
        checksum = sha256_b64(data)
        try:
            response = self.client.upload_part(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                Body=bytes(data),  # moto (and some HTTP stacks) want bytes; one transient copy of the part
                ChecksumSHA256=checksum,
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._fail(f"UploadPart {number}", key, exc) from exc
        return UploadedPart(number=number, etag=str(response["ETag"]), checksum_sha256=checksum)

    def complete_multipart(self, key: str, upload_id: str, parts: list[UploadedPart]) -> None:
        try:
            self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={
                    "Parts": [
                        {"PartNumber": p.number, "ETag": p.etag, "ChecksumSHA256": p.checksum_sha256} for p in parts
                    ]
                },
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("CompleteMultipartUpload", key, exc) from exc

    def abort_multipart(self, key: str, upload_id: str) -> None:
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NoSuchUpload":
                return
            raise self._fail("AbortMultipartUpload", key, exc) from exc
        except BotoCoreError as exc:
            raise self._fail("AbortMultipartUpload", key, exc) from exc

    def list_keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                keys.extend(item["Key"] for item in page.get("Contents", []))
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("ListObjectsV2", prefix, exc) from exc
        return sorted(keys)

    def list_multipart_uploads(self, prefix: str) -> list[str]:
        keys: list[str] = []
        try:
            for page in self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket, Prefix=prefix):
                keys.extend(item["Key"] for item in page.get("Uploads", []))
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("ListMultipartUploads", prefix, exc) from exc
        return sorted(keys)

    def copy(self, source_key: str, target_key: str) -> None:
        source = self.head(source_key)
        if source is None:
            raise ArchiveMissingError(f"s3://{self.bucket}/{source_key}: no such object")
        if source.size > COPY_OBJECT_LIMIT:
            raise ArchiveStoreError(f"s3://{self.bucket}/{source_key}: {source.size} bytes is over CopyObject's 5 GiB")
        try:
            self.client.copy_object(
                Bucket=self.bucket,
                Key=target_key,
                CopySource={"Bucket": self.bucket, "Key": source_key},
                MetadataDirective="COPY",
                ChecksumAlgorithm="SHA256",
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._fail(f"CopyObject from {source_key}", target_key, exc) from exc
