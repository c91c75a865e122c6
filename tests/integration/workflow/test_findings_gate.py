"""Findings through the local runtime: the ScanFindings step, the gate's findings, an approval blocked until accepted.

The stage here is ``gated`` on a state machine of its own (same ASL), so its pointer and its rule
(block on HIGH; etcd listed unscannable, which excuses UNSUPPORTED_IMAGE only, not its FAILED scan) touch no other test's ``prod``.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from eksd_adopt.approvals.aws import DynamoDbApprovalStore
from eksd_adopt.approvals.models import ApprovalStatus
from eksd_adopt.archives.s3store import S3ArchiveStore
from eksd_adopt.findings import ScanStatus, findings_key, load_findings
from eksd_adopt.ledger.dynamodb import DynamoDbLedger
from eksd_adopt.local.aws import LocalAws, LocalIdentity
from eksd_adopt.local.scanner import DEMO_HIGH, DEMO_LOW
from eksd_adopt.local.upstream import UpstreamSimulator
from eksd_adopt.workflow.documents import BucketDocuments
from tests.integration.workflow.conftest import APPROVER_A, APPROVER_B, workflow_input
from tests.integration.workflow.test_adoption import call, cli

pytestmark = [pytest.mark.xdist_group("workflow"), pytest.mark.slow]

STAGE = "gated"
APISERVER = "eks-distro/kubernetes/kube-apiserver"
ETCD = "eks-distro/etcd-io/etcd"
RULES = {
    "prod": {"approvers": [APPROVER_A, APPROVER_B], "required_approvals": 1},
    STAGE: {
        "approvers": [APPROVER_A, APPROVER_B],
        "required_approvals": 1,
        "findings": {"block_on": "HIGH", "unscannable": [ETCD]},
    },
}


@pytest.fixture(scope="module")
def people(aws: LocalAws) -> dict[str, LocalIdentity]:
    session = APPROVER_A.replace(":iam::", ":sts::").replace(":role/", ":assumed-role/")
    return {"alice": aws.add_identity(f"{session}/alice-findings"), "bob": aws.add_identity(APPROVER_B)}


def approve(aws: LocalAws, who: LocalIdentity, release_id: str, accepted: list[object] | None = None):  # type: ignore[no-untyped-def]
    body: dict[str, object] = {"release_id": release_id, "stage": STAGE, "decision": "approve", "comment": "ok"}
    if accepted is not None:
        body["accepted_findings"] = accepted
    return call(aws, who, "POST", "/decisions", body)


def test_a_new_high_finding_blocks_the_approval_until_accepted_by_name(
    aws: LocalAws, upstream: UpstreamSimulator, template: str, people: dict[str, LocalIdentity]
) -> None:
    aws.scanner.seed_default()  # every image not seeded below: scanned clean
    aws.scanner.seed_image(APISERVER, [DEMO_HIGH, DEMO_LOW])
    aws.scanner.seed_image(ETCD, status=ScanStatus.FAILED, detail="fake: the scan failed")
    machine = aws.create_state_machine("eksd-adopt-findings-gate", Stages=STAGE)
    events = aws.subscribe_queue(aws.events_topic_arn, "findings-events")
    release = upstream.publish_release(template, channel="1-20", number=30)
    with aws.env(STAGE_RULES=json.dumps(RULES)):
        arn = aws.start_adoption(workflow_input(release), machine)
        approvals = DynamoDbApprovalStore(aws.approvals_table)

        def gate_open() -> bool:
            assert aws.describe(arn)["status"] == "RUNNING", aws.describe(arn)
            gate = approvals.get(release.release_id, STAGE)
            return gate is not None and gate.status is ApprovalStatus.PENDING

        aws.wait_until(gate_open, timeout=90, what="the gated stage's approval gate")

        # The gate as approvers read it: the findings summary and what the threshold blocks on.
        shown = call(aws, people["bob"], "GET", f"/approvals/{release.release_id}/{STAGE}")
        assert shown.status_code == 200, shown.text
        gate = shown.json()
        assert "task_token" not in gate
        findings, blocking = gate["summary"]["findings"], gate["summary"]["findings_gate"]
        assert [f["id"] for f in findings["new"]] == [DEMO_HIGH.id, DEMO_LOW.id]  # nothing promoted in gated yet
        assert {i["image"]: i["counts"]["HIGH"] for i in findings["images"]}[APISERVER] == 1
        # etcd's failed scans are shown as such, never as an image without findings.
        (etcd,) = [i for i in findings["images"] if i["image"] == ETCD]
        assert not etcd["complete"] and {p["status"] for p in etcd["incomplete"]} == {"FAILED"}
        assert findings["incomplete_scans"] == len(etcd["incomplete"]) > 0 and not findings["complete"]
        assert blocking["block_on"] == "HIGH" and [f["id"] for f in blocking["findings"]] == [DEMO_HIGH.id]
        assert {s["image"] for s in blocking["incomplete_scans"]} == {ETCD}
        # The full document is in the bucket, write-once, and hashes to what the gate names.
        documents = BucketDocuments(aws.bucket, lambda name: S3ArchiveStore(name, client=aws.client("s3")))
        location = documents.location(findings_key("eksd", "1-20", 30))
        assert findings["location"] == location
        assert hashlib.sha256(documents.get(location)).hexdigest() == findings["sha256"]
        assert load_findings(location, documents, release_id=release.release_id).scans

        page = cli(aws, people["alice"], ["approvals", "show", release.release_id, "--stage", STAGE])
        assert page.exit_code == 0, page.output
        assert f"{DEMO_HIGH.id} !" in page.output and f"--accept-findings {DEMO_HIGH.id}" in page.output

        refused = approve(aws, people["alice"], release.release_id)
        assert refused.status_code == 409 and DEMO_HIGH.id in refused.json()["error"], refused.text
        partly = approve(aws, people["alice"], release.release_id, [DEMO_HIGH.id])
        assert partly.status_code == 409 and "--accept-findings incomplete-scan" in partly.json()["error"], partly.text
        malformed = approve(aws, people["alice"], release.release_id, ["CVE-2099-0001\n"])
        assert malformed.status_code == 400 and "accepted finding 1" in malformed.json()["error"], malformed.text
        unknown = approve(aws, people["alice"], release.release_id, [DEMO_HIGH.id, DEMO_LOW.id])
        assert unknown.status_code == 409 and f"not among this gate's blocking findings: {DEMO_LOW.id}" in unknown.text
        assert approvals.get(release.release_id, STAGE).votes == []  # nothing refused was recorded

        accepted = approve(aws, people["alice"], release.release_id, [DEMO_HIGH.id, "incomplete-scan"])
        assert accepted.status_code == 200, accepted.text
        final = aws.wait_for_execution(arn)
        assert final["status"] == "SUCCEEDED", final

    (vote,) = approvals.get(release.release_id, STAGE).votes
    assert vote.accepted_findings == [DEMO_HIGH.id, "incomplete-scan"]
    decisions = DynamoDbLedger(aws.ledger_table).get(release.release_id).decisions
    assert [(d.stage, d.accepted_findings) for d in decisions] == [(STAGE, [DEMO_HIGH.id, "incomplete-scan"])]
    awaiting = [
        json.loads(m) for m in aws.drain(events) if json.loads(m).get("event_type") == "release.awaiting_approval"
    ]
    (event,) = [e for e in awaiting if e["release_id"] == release.release_id]
    assert event["detail"]["findings"]["new"][0]["id"] == DEMO_HIGH.id
