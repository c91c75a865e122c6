"""Replayed and late approvals are refused and audited; the logs of a whole adoption hold no secret and name the release.

The handlers' structured logs are captured from the service logger (``tests/logcapture.py``: the
Powertools JSON lines Lambda would ship to CloudWatch), at INFO as deployed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from eksd_adopt.approvals.aws import DynamoDbApprovalStore
from eksd_adopt.ledger.dynamodb import DynamoDbLedger
from eksd_adopt.local.aws import LocalAws, LocalIdentity
from eksd_adopt.local.upstream import UpstreamSimulator
from tests.integration.workflow.conftest import APPROVER_A, APPROVER_B, workflow_input
from tests.integration.workflow.test_adoption import await_gate, decide
from tests.logcapture import CapturedLogs
from tests.logcapture import service_logs as capture_service_logs

pytestmark = [pytest.mark.xdist_group("workflow"), pytest.mark.slow]


@pytest.fixture
def service_logs() -> Iterator[CapturedLogs]:
    with capture_service_logs() as logs:
        yield logs


def signed_decision(aws: LocalAws, who: LocalIdentity, release_id: str, decision: str) -> tuple[bytes, dict[str, str]]:
    """One signed request (body and headers), so it can be sent twice: a replay."""
    body = json.dumps({"release_id": release_id, "stage": "prod", "decision": decision}).encode()
    request = AWSRequest(
        method="POST", url=aws.approvals_url + "/decisions", data=body, headers={"Content-Type": "application/json"}
    )
    SigV4Auth(who.credentials, "lambda", "us-east-1").add_auth(request)
    return body, dict(request.headers.items())


@pytest.fixture(scope="module")
def approvers(aws: LocalAws) -> dict[str, LocalIdentity]:
    return {"alice": aws.add_identity(APPROVER_A), "bob": aws.add_identity(APPROVER_B)}


@pytest.mark.reliability(
    area="approvals",
    fault="a captured, validly signed approval replayed; then another approver's approval of the decided stage",
    expected="both refused (409) and logged as refused with caller, release and reason; the ledger keeps one decision",
)
def test_replayed_and_late_approvals_are_refused_and_audited(
    aws: LocalAws,
    upstream: UpstreamSimulator,
    template: str,
    approvers: dict[str, LocalIdentity],
    service_logs: CapturedLogs,
    observed: Callable[[str], None],
) -> None:
    release = upstream.publish_release(template, channel="1-20", number=21)
    arn = aws.start_adoption(workflow_input(release))
    await_gate(aws, release.release_id, arn)
    body, headers = signed_decision(aws, approvers["alice"], release.release_id, "approve")

    first = httpx.post(aws.approvals_url + "/decisions", content=body, headers=headers)
    replay = httpx.post(aws.approvals_url + "/decisions", content=body, headers=headers)
    late = decide(aws, approvers["bob"], release.release_id, "approve")

    assert first.status_code == 200 and first.json()["status"] == "approved", first.text
    assert replay.status_code == 409 and late.status_code == 409, (replay.text, late.text)
    assert aws.wait_for_execution(arn)["status"] == "SUCCEEDED"
    decisions = DynamoDbLedger(aws.ledger_table).get(release.release_id).decisions
    assert [(d.approver, d.decision) for d in decisions] == [(APPROVER_A, "approve")]
    refused = [line for line in service_logs.lines() if line["message"] == "refused"]
    assert [(r["caller"], r["release_id"], r["stage"], r["status"]) for r in refused] == [
        (APPROVER_A, release.release_id, "prod", 409),
        (APPROVER_B, release.release_id, "prod", 409),
    ]
    assert all(r["level"] == "WARNING" and r["reason"] for r in refused)
    observed(f"replay: {replay.status_code} {replay.json()['error']!r}; late: {late.status_code}; 2 audit lines")


@pytest.mark.reliability(
    area="logs",
    fault="a whole adoption through its approval gate, every handler's log line captured",
    expected=(
        "no task token, secret key, session token, signature or Authorization header in any line; "
        "every line of the adoption names its release id"
    ),
)
def test_an_adoption_logs_no_secret_and_names_its_release_on_every_line(
    aws: LocalAws,
    upstream: UpstreamSimulator,
    template: str,
    approvers: dict[str, LocalIdentity],
    service_logs: CapturedLogs,
    observed: Callable[[str], None],
) -> None:
    release = upstream.publish_release(template, channel="1-20", number=22)
    session_token = "FwoGZXIvYXdzEXAMPLE-session-token-never-logged"
    # One mirror job at a time: in-process handlers share one log formatter, which Lambda never does.
    sequential = aws.create_state_machine("eksd-adopt-release-sequential-mirror", MirrorConcurrency="1")
    with aws.env(AWS_SESSION_TOKEN=session_token):
        arn = aws.start_adoption(workflow_input(release), sequential)
        await_gate(aws, release.release_id, arn)
        gate = DynamoDbApprovalStore(aws.approvals_table).get(release.release_id, "prod")
        assert gate is not None and gate.task_token
        body, headers = signed_decision(aws, approvers["bob"], release.release_id, "approve")
        response = httpx.post(aws.approvals_url + "/decisions", content=body, headers=headers)
        assert response.status_code == 200, response.text
        assert aws.wait_for_execution(arn)["status"] == "SUCCEEDED"

    text, lines = service_logs.text, service_logs.lines()
    signature = headers["Authorization"].rsplit("Signature=", 1)[1]
    secrets = {
        "task token": gate.task_token,
        "approver's secret key": approvers["bob"].secret_key,
        "session token": session_token,
        "request signature": signature,
    }
    for what, secret in secrets.items():
        assert secret not in text, f"{what} appears in the logs"
    assert "AWS4-HMAC-SHA256" not in text and "authorization" not in text.lower()
    # Every step ran and logged, and each of its lines names this release.
    ours = [line for line in lines if line.get("release_id") == release.release_id]
    # (By message, not function name: in-process handlers running at once share one formatter's keys.)
    messages = {line["message"] for line in ours}
    assert messages >= {
        "release validated",
        "image mirrored",
        "archive mirrored",
        "approval requested",
        "decision recorded",
    }, messages
    unnamed = [line for line in lines if not line.get("release_id")]
    assert unnamed == [], unnamed[:3]
    observed(f"{len(ours)} lines from every step that logs: no secret, all carry release_id")
