"""S3 and DynamoDB throttling through botocore's real retry path.

Against a moto server on loopback (not ``mock_aws``: in-process moto also sees every request a hook
answers, and would store what AWS refused). A ``before-send`` hook returns the throttling answer AWS
gives (S3 ``503 SlowDown``, DynamoDB ``ProvisionedThroughputExceededException``) for the
first N calls of one operation; botocore's retry handler decides, as in production, whether to try
again. Only the waiting between attempts is shortened for the test; the decisions are botocore's.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from botocore.retries.standard import ExponentialBackoff
from moto.core.botocore_stubber import MockRawResponse

from eksd_adopt.archives.errors import ArchiveStoreError
from eksd_adopt.archives.s3store import S3ArchiveStore, s3_client
from eksd_adopt.ledger import ReleaseStatus
from eksd_adopt.ledger.dynamodb import DynamoDbLedger
from eksd_adopt.ledger.model import ReleaseRecord
from eksd_adopt.local.cdn import LocalCdn
from tests.integration.archives.conftest import make_copier, publish
from tests.integration.intake.conftest import create_ledger_table

pytestmark = pytest.mark.xdist_group("reliability")
BUCKET = "eksd-throttled"
TABLE = "eksd-adopt-ledger"


class Throttle:
    """Answers the first ``times`` calls with a throttling error; counts every attempt botocore makes."""

    def __init__(self, status: int, body: str, content_type: str, times: int) -> None:
        self.status, self.body, self.content_type, self.times = status, body, content_type, times
        self.attempts = 0

    def __call__(self, request: Any, **_: Any) -> AWSResponse | None:
        self.attempts += 1
        if self.attempts > self.times:
            return None  # let the call through (to moto)
        return AWSResponse(request.url, self.status, {"Content-Type": self.content_type}, MockRawResponse(self.body))


def s3_slowdown(times: int) -> Throttle:
    body = "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
    return Throttle(503, body, "application/xml", times)


def dynamodb_throttle(times: int) -> Throttle:
    body = (
        '{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",'
        '"message":"The level of configured provisioned throughput for the table was exceeded."}'
    )
    return Throttle(400, body, "application/x-amz-json-1.0", times)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, moto_url: str) -> Iterator[str]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": moto_url,  # the production clients honour it
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_MAX_ATTEMPTS", raising=False)
    monkeypatch.delenv("AWS_RETRY_MODE", raising=False)
    # Shorter waits between attempts; whether to retry is still botocore's decision.
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.01)
    monkeypatch.setattr("botocore.retryhandler.delay_exponential", lambda base, growth_factor, attempts: 0.01)
    yield uuid.uuid4().hex[:8]


@pytest.fixture
def throttled_s3(aws: str) -> Callable[[Throttle], S3ArchiveStore]:
    def make(throttle: Throttle) -> S3ArchiveStore:
        client = s3_client()  # the production client and its retry configuration
        client.create_bucket(Bucket=f"{BUCKET}-{aws}")
        client.meta.events.register_first("before-send.s3.PutObject", throttle)
        return S3ArchiveStore(f"{BUCKET}-{aws}", client=client)

    return make


@pytest.fixture
def throttled_ledger(aws: str) -> Callable[[Throttle], DynamoDbLedger]:
    def make(throttle: Throttle) -> DynamoDbLedger:
        resource = boto3.resource("dynamodb")  # what DynamoDbLedger builds by default
        create_ledger_table(resource.meta.client, f"{TABLE}-{aws}")
        resource.meta.client.meta.events.register_first("before-send.dynamodb.PutItem", throttle)
        return DynamoDbLedger(f"{TABLE}-{aws}", resource=resource)

    return make


def _record(number: int) -> ReleaseRecord:
    return ReleaseRecord(release_id=f"1-30-{number}", channel="1-30", number=number, status=ReleaseStatus.ADOPTING)


@pytest.mark.reliability(
    area="archives",
    fault="S3 PutObject answers 503 SlowDown twice",
    expected="botocore's retry (standard mode, 5 attempts) gets it through; the object is stored and verified",
)
def test_s3_slowdown_is_retried_and_the_archive_is_stored(
    throttled_s3: Callable[[Throttle], S3ArchiveStore], cdn: LocalCdn, observed: Callable[[str], None]
) -> None:
    throttle = s3_slowdown(2)
    store = throttled_s3(throttle)
    job = publish(cdn, "throttled-small", 120_000, number=990)
    result = make_copier(store, cdn).copy(job)
    head = store.head(job.target_key)
    assert throttle.attempts == 3 and not result.skipped
    assert head is not None and head.metadata == {"sha256": job.sha256, "sha512": job.sha512}
    observed(f"stored after {throttle.attempts} PutObject attempts (2 throttled)")


@pytest.mark.reliability(
    area="archives",
    fault="S3 PutObject answers 503 SlowDown on every attempt",
    expected="a clear ArchiveStoreError naming the key and SlowDown; no object, no unfinished upload",
)
def test_s3_persistent_slowdown_fails_cleanly_with_nothing_written(
    throttled_s3: Callable[[Throttle], S3ArchiveStore], cdn: LocalCdn, observed: Callable[[str], None]
) -> None:
    throttle = s3_slowdown(10_000)
    store = throttled_s3(throttle)
    job = publish(cdn, "throttled-always", 120_000, number=991)
    with pytest.raises(ArchiveStoreError) as caught:
        make_copier(store, cdn).copy(job)
    assert "SlowDown" in str(caught.value) and job.target_key in str(caught.value)
    assert store.head(job.target_key) is None
    assert not store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads")
    assert throttle.attempts >= 5  # botocore's standard mode retried (5 attempts a call), then gave up
    observed(f"{type(caught.value).__name__} after {throttle.attempts} attempts: {str(caught.value)[:90]}")


@pytest.mark.reliability(
    area="ledger",
    fault="DynamoDB PutItem answers ProvisionedThroughputExceededException three times",
    expected="botocore's retry gets the conditional create through; the record is written once",
)
def test_dynamodb_throttling_is_retried_and_the_record_written_once(
    throttled_ledger: Callable[[Throttle], DynamoDbLedger], observed: Callable[[str], None]
) -> None:
    throttle = dynamodb_throttle(3)
    ledger = throttled_ledger(throttle)
    assert ledger.create(_record(58)) is True
    assert ledger.create(_record(58)) is False  # the retried write did not sneak in twice
    record = ledger.get("1-30-58")
    assert record is not None and record.status is ReleaseStatus.ADOPTING
    assert throttle.attempts == 5  # 3 throttled + the create + the refused duplicate
    observed("created after 3 throttled attempts; a second create is refused (conditional write)")


@pytest.mark.reliability(
    area="ledger",
    fault="DynamoDB PutItem throttled on every attempt",
    expected="the error surfaces (ProvisionedThroughputExceededException) after botocore's attempts; nothing written",
)
def test_dynamodb_persistent_throttling_fails_cleanly_with_nothing_written(
    throttled_ledger: Callable[[Throttle], DynamoDbLedger],
    monkeypatch: pytest.MonkeyPatch,
    observed: Callable[[str], None],
) -> None:
    throttle = dynamodb_throttle(10_000)
    ledger = throttled_ledger(throttle)
    with pytest.raises(ClientError) as caught:
        ledger.create(_record(59))
    assert caught.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
    assert ledger.get("1-30-59") is None
    assert throttle.attempts >= 3  # retried with the default configuration, then gave up
    observed(f"{caught.value.response['Error']['Code']} after {throttle.attempts} attempts; no record")
