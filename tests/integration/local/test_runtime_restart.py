"""The local runtime can be started again in the same process (moto's backends are per process)."""

from __future__ import annotations

import pytest

from eksd_adopt.local.aws import LocalAws


@pytest.mark.reliability(
    area="local runtime",
    fault="a second local runtime started in a process that already ran one",
    expected="starts from an empty account (no 'table already exists')",
)
def test_a_second_runtime_in_one_process_starts_clean() -> None:
    with LocalAws() as first:
        first.client("s3").put_object(Bucket=first.bucket, Key="left-behind", Body=b"x")
    with LocalAws() as second:
        assert second.client("dynamodb").describe_table(TableName=second.ledger_table)["Table"]["ItemCount"] == 0
        assert "Contents" not in second.client("s3").list_objects_v2(Bucket=second.bucket)
