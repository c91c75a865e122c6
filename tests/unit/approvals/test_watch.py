"""The approval watch: counting open gates and ageing the oldest, and the metrics its handler publishes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from eksd_adopt.approvals.settings import ApprovalWatchSettings
from eksd_adopt.approvals.watch import PendingApproval, summarize_pending
from eksd_adopt.local.lambdas import LambdaContext, load_handler

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def gate(release: str, hours_ago: float, stage: str = "prod") -> PendingApproval:
    return PendingApproval(release_id=release, stage=stage, requested_at=NOW - timedelta(hours=hours_ago))


def test_oldest_gate_is_aged_and_named() -> None:
    report = summarize_pending([gate("1-30-58", 2), gate("1-30-57", 50, "staging"), gate("1-31-4", 0.5)], NOW)
    assert (report.pending, report.oldest_seconds) == (3, 50 * 3600)
    assert (report.oldest_release_id, report.oldest_stage) == ("1-30-57", "staging")


def test_no_gate_reports_zero_so_the_metric_always_has_a_datapoint() -> None:
    report = summarize_pending([], NOW)
    assert (report.pending, report.oldest_seconds, report.oldest_release_id) == (0, 0, None)


def test_a_gate_requested_in_the_future_counts_as_zero_not_negative() -> None:
    assert summarize_pending([gate("1-30-58", -1)], NOW).oldest_seconds == 0


def test_settings_need_the_table_name() -> None:
    with pytest.raises(ValueError, match="APPROVALS_TABLE"):
        ApprovalWatchSettings.from_env({})


class FakeGates:
    def __init__(self, gates: list[PendingApproval]) -> None:
        self.gates = gates

    def pending(self) -> list[PendingApproval]:
        return self.gates


def test_handler_publishes_both_metrics(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("APPROVALS_TABLE", "eksd-adopt-approvals")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    handler = load_handler("approvals_watch").handler
    old = PendingApproval(release_id="1-30-57", stage="prod", requested_at=datetime.now(UTC) - timedelta(hours=3))
    result = handler({}, LambdaContext(), gates=FakeGates([old]))
    assert result["pending"] == 1 and 3 * 3600 <= result["oldest_seconds"] < 3 * 3600 + 60
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    (blob,) = emf
    names = {m["Name"] for d in blob["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
    assert names == {"PendingApprovals", "OldestPendingApprovalSeconds"}
    assert blob["OldestPendingApprovalSeconds"] in (result["oldest_seconds"], [result["oldest_seconds"]])


def test_table_reader_returns_pending_gates_and_never_reads_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3
    from moto import mock_aws

    from eksd_adopt.approvals.aws import DynamoDbApprovalStore, create_approvals_table

    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_approvals_table(client, "approvals")
        for release, status in (("1-30-57", "pending"), ("1-30-56", "approved")):
            client.put_item(
                TableName="approvals",
                Item={
                    "release_id": {"S": release},
                    "stage": {"S": "prod"},
                    "status": {"S": status},
                    "task_token": {"S": "secret-token"},
                    "requested_at": {"S": "2026-11-25T10:00:00+00:00"},
                },
            )
        calls: list[dict[str, object]] = []
        resource = boto3.resource("dynamodb", region_name="us-east-1")
        resource.meta.client.meta.events.register("after-call.dynamodb.Scan", lambda parsed, **_: calls.append(parsed))
        gates = DynamoDbApprovalStore("approvals", resource=resource).pending()
    assert [(g.release_id, g.stage) for g in gates] == [("1-30-57", "prod")]
    assert "secret-token" not in json.dumps(calls)  # the projection kept the token out of the response
