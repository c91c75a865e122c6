"""The reconciler's narrow ledger reads (newest, unstarted) and the writer's clock, on DynamoDB (moto) and in memory alike."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import boto3
import pytest

from eksd_adopt.ledger import InMemoryLedger, Ledger, ReleaseRecord, ReleaseStatus
from eksd_adopt.ledger.dynamodb import DynamoDbLedger
from eksd_adopt.ledger.model import STARTED_STATUSES
from tests.integration.intake.conftest import REGION, create_ledger_table

ARN = "arn:aws:states:us-east-1:123456789012:execution:eksd-adopt-release:adopt-"


@pytest.fixture(params=["dynamodb", "memory"])
def ledger(request: pytest.FixtureRequest, aws: None) -> Iterator[Ledger]:
    if request.param == "memory":
        yield InMemoryLedger()
        return
    name = f"ledger-{uuid.uuid4().hex[:8]}"
    create_ledger_table(boto3.client("dynamodb", region_name=REGION), name)
    yield DynamoDbLedger(name, resource=boto3.resource("dynamodb", region_name=REGION))


def put(ledger: Ledger, channel: str, number: int, status: ReleaseStatus, arn: bool = False) -> None:
    release_id = f"{channel}-{number}"
    ledger.create(
        ReleaseRecord(
            release_id=release_id,
            channel=channel,
            number=number,
            status=status,
            execution_arn=ARN + release_id if arn else None,
        )
    )


def test_newest_reads_the_highest_number_with_the_filters(ledger: Ledger) -> None:
    # Given a channel with more releases than one page, the newest ones not started, and another channel
    for number in range(1, 13):
        put(ledger, "1-30", number, ReleaseStatus.PROMOTED, arn=True)
    put(ledger, "1-30", 13, ReleaseStatus.ADOPTING, arn=True)
    for number in range(14, 24):
        put(ledger, "1-30", number, ReleaseStatus.SUPERSEDED)
    put(ledger, "1-31", 1, ReleaseStatus.DETECTED)
    # Then newest answers by number (not by write order), past pages the filter empties
    assert ledger.newest("1-30") is not None and ledger.newest("1-30").number == 23  # type: ignore[union-attr]
    started = ledger.newest("1-30", statuses=STARTED_STATUSES)
    assert started is not None and started.release_id == "1-30-13"
    other = ledger.newest("1-30", statuses=STARTED_STATUSES, excluding="1-30-13")
    assert other is not None and other.release_id == "1-30-12"
    assert ledger.newest("1-30", statuses=STARTED_STATUSES, at_least=14) is None
    newer = ledger.newest("1-30", statuses=STARTED_STATUSES, at_least=12, excluding="1-30-13")
    assert newer is not None and newer.release_id == "1-30-12"
    assert ledger.newest("1-29") is None
    assert ledger.newest("1-31", statuses=STARTED_STATUSES) is None


def test_unstarted_is_detected_or_claimed_without_an_execution(ledger: Ledger) -> None:
    # Given every kind of record, and a forced re-adoption that wrote its execution ARN as null
    put(ledger, "1-30", 1, ReleaseStatus.PROMOTED, arn=True)
    put(ledger, "1-30", 2, ReleaseStatus.ADOPTING, arn=True)
    put(ledger, "1-30", 3, ReleaseStatus.ADOPTING)
    put(ledger, "1-30", 4, ReleaseStatus.DETECTED)
    put(ledger, "1-30", 5, ReleaseStatus.INVALID)
    put(ledger, "1-30", 6, ReleaseStatus.SUPERSEDED)
    put(ledger, "1-30", 7, ReleaseStatus.ADOPTING, arn=True)
    ledger.update("1-30-7", execution_arn=None)
    put(ledger, "1-31", 1, ReleaseStatus.DETECTED)
    # Then the reconciler reads just those, newest first, of one channel or of all
    assert [r.release_id for r in ledger.unstarted("1-30")] == ["1-30-7", "1-30-4", "1-30-3"]
    assert [r.release_id for r in ledger.unstarted()] == ["1-31-1", "1-30-7", "1-30-4", "1-30-3"]


def test_update_keeps_the_writers_time(ledger: Ledger) -> None:
    # Given a writer on its own clock (the intake passes its clock's time)
    put(ledger, "1-30", 1, ReleaseStatus.DETECTED)
    then = datetime(2021, 3, 4, 5, 6, 7, tzinfo=UTC)
    # When it updates with that time, and later someone updates without one
    assert ledger.update("1-30-1", status=ReleaseStatus.ADOPTING, updated_at=then).updated_at == then
    assert ledger.get("1-30-1").updated_at == then  # type: ignore[union-attr]
    assert ledger.update("1-30-1", problems=[]).updated_at > then
