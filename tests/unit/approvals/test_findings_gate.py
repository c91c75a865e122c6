"""A gate's findings on in-memory fakes: what opening it computes, and decisions refused until blocking findings are accepted."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from eksd_adopt.approvals.gates import GateRequest, decide, request_approval
from eksd_adopt.approvals.models import ApprovalStatus, StageRule
from eksd_adopt.events import InMemoryPublisher
from eksd_adopt.findings import (
    INCOMPLETE_SCAN,
    FindingsDocumentError,
    FindingsNotAcknowledgedError,
    FindingsRule,
    ScanStatus,
    Severity,
    findings_key,
    required_acknowledgments,
    store_findings,
)
from eksd_adopt.ledger import InMemoryLedger, ReleaseRecord, ReleaseStatus
from eksd_adopt.workflow.errors import ArtifactMissingError
from eksd_adopt.workflow.models import ReleaseRef, StagePointer
from tests.unit.approvals.fakes import BOB, ROLE, FakeApprovals, FakeCallbacks, gate
from tests.unit.findings.builders import MemoryDocuments, finding, release_findings, scan
from tests.unit.workflow.fakes import FakePointers

PROXY = "eks-distro/kubernetes/kube-proxy"
PAUSE = "eks-distro/kubernetes/pause"
HIGH, LOW, OLD = "CVE-2099-0001", "CVE-2099-0002", "CVE-2023-9999"
RULE = StageRule(approvers=(ROLE, BOB), findings=FindingsRule(block_on=Severity.HIGH))
ALICE = "arn:aws:sts::111122223333:assumed-role/Approvers/alice"


class Documents(MemoryDocuments):
    """The bucket as the workflow's document store answers: a missing key is ArtifactMissingError."""

    def get(self, location: str) -> bytes:
        try:
            return super().get(location)
        except KeyError:
            raise ArtifactMissingError(f"{location} does not exist") from None


class Notes:
    def __init__(self) -> None:
        self.messages: list[str] = []

    def notify(self, subject: str, message: str, attributes: dict[str, str]) -> None:
        self.messages.append(message)


def blocking_gate(*, incomplete: bool = False) -> tuple[FakeApprovals, InMemoryLedger]:
    """Release 1-30-58 at prod: a new HIGH finding (and a LOW one) against a stage running nothing."""
    approvals, ledger = gate()
    scans = [scan(PROXY, [finding(HIGH), finding(LOW, Severity.LOW)], release="58")]
    if incomplete:
        scans.append(scan(PAUSE, release="58", status=ScanStatus.FAILED))
    required = required_acknowledgments(release_findings(scans, release_id="1-30-58"), RULE.findings)
    approvals.gates[("1-30-58", "prod")].summary["findings_gate"] = required.model_dump(mode="json")
    return approvals, ledger


def approve(approvals: FakeApprovals, ledger: InMemoryLedger, accepted: tuple[str, ...] = (), **kw: Any) -> Any:
    return decide(
        kw.get("caller", ALICE),
        "1-30-58",
        "prod",
        kw.get("decision", "approve"),
        kw.get("comment"),
        rules={"prod": RULE},
        approvals=approvals,
        callbacks=kw.get("callbacks", FakeCallbacks()),
        ledger=ledger,
        accepted_findings=accepted,
    )


def test_an_approval_leaving_a_new_high_finding_unaccepted_is_refused_naming_it() -> None:
    approvals, ledger = blocking_gate()
    callbacks = FakeCallbacks()
    with pytest.raises(FindingsNotAcknowledgedError, match=f"need --accept-findings: {HIGH}"):
        approve(approvals, ledger, callbacks=callbacks)
    # Nothing of the refused decision is recorded, and the workflow is not resumed.
    assert approvals.gates[("1-30-58", "prod")].votes == [] and ledger.get("1-30-58").decisions == []
    assert callbacks.calls == []


def test_the_accepted_ids_go_with_the_vote_and_into_the_ledger() -> None:
    approvals, ledger = blocking_gate()
    callbacks = FakeCallbacks()
    outcome = approve(approvals, ledger, (HIGH,), callbacks=callbacks)
    assert outcome.status is ApprovalStatus.APPROVED and [c[0] for c in callbacks.calls] == ["succeed"]
    (vote,) = approvals.gates[("1-30-58", "prod")].votes
    assert vote.accepted_findings == [HIGH]
    (recorded,) = ledger.get("1-30-58").decisions
    assert recorded.accepted_findings == [HIGH]


def test_an_id_nothing_required_is_refused_so_only_what_was_shown_is_recorded() -> None:
    approvals, ledger = blocking_gate()
    with pytest.raises(FindingsNotAcknowledgedError, match=f"not among this gate's blocking findings: {LOW}"):
        approve(approvals, ledger, (HIGH, LOW))


def test_incomplete_scans_block_until_incomplete_scan_is_accepted() -> None:
    approvals, ledger = blocking_gate(incomplete=True)
    with pytest.raises(FindingsNotAcknowledgedError, match=f"--accept-findings {INCOMPLETE_SCAN}: {PAUSE}"):
        approve(approvals, ledger, (HIGH,))
    assert approve(approvals, ledger, (HIGH, INCOMPLETE_SCAN)).status is ApprovalStatus.APPROVED


def test_a_gate_without_findings_takes_no_acceptance() -> None:
    approvals, ledger = gate()
    with pytest.raises(FindingsNotAcknowledgedError, match="not among"):
        approve(approvals, ledger, (HIGH,))
    assert approve(approvals, ledger).status is ApprovalStatus.APPROVED


@pytest.mark.parametrize("bad", ["cve-2099-0001", "CVE-2099-0001\n", "CVE-\u0662\u0660\u0669\u0669-1", "x" * 200])
def test_a_malformed_id_is_a_bad_request(bad: str) -> None:
    approvals, ledger = blocking_gate()
    with pytest.raises(ValueError, match="accepted finding 1") as raised:
        approve(approvals, ledger, (bad,))
    assert not isinstance(raised.value, FindingsNotAcknowledgedError)


def test_a_rejection_accepts_nothing() -> None:
    approvals, ledger = blocking_gate()
    with pytest.raises(ValueError, match="go with an approval"):
        approve(approvals, ledger, (HIGH,), decision="reject", comment="no")


# ----- opening the gate --------------------------------------------------------------------------


def _open(pointers: FakePointers, documents: Documents, rule: StageRule = RULE) -> tuple[Any, InMemoryPublisher, Notes]:
    manifest = b"status:\n  components:\n  - name: kubernetes\n    gitTag: v1.30.1\n"
    documents.objects["eksd/staging/kubernetes-1-30/kubernetes-1-30-eks-58.yaml"] = manifest
    documents.objects["eksd/prod/kubernetes-1-30/kubernetes-1-30-eks-57.yaml"] = manifest
    current = release_findings(
        [scan(PROXY, [finding(HIGH), finding(LOW, Severity.LOW)], release="58"), scan(PAUSE, release="58")],
        release_id="1-30-58",
    )
    ref = store_findings(current, documents, prefix="eksd", channel="1-30", number=58)
    ledger = InMemoryLedger()
    ledger.create(ReleaseRecord(release_id="1-30-58", channel="1-30", number=58, status=ReleaseStatus.TESTED))
    publisher, notes, approvals = InMemoryPublisher(), Notes(), FakeApprovals()
    request = request_approval(
        GateRequest(
            release=ReleaseRef(release_id="1-30-58", channel="1-30", number=58),
            stage="prod",
            task_token="token",
            timeout_seconds=60,
            staged_manifest_location=documents.location("eksd/staging/kubernetes-1-30/kubernetes-1-30-eks-58.yaml"),
            verification={"ok": True},
            tests={"smoke": {"ok": True}, "team": {"configured": False}},
            findings=ref,
        ),
        {"prod": rule},
        approvals=approvals,
        pointers=pointers,
        store=documents,
        notifier=notes,
        ledger=ledger,
        publisher=publisher,
        prefix="eksd",
        now=datetime(2099, 1, 1, tzinfo=UTC),
    )
    return request, publisher, notes


def _promoted(pointers: FakePointers) -> None:
    pointers.put(
        "prod",
        StagePointer(
            release_id="1-30-57",
            channel="1-30",
            number=57,
            manifest_location="s3://bucket/eksd/prod/kubernetes-1-30/kubernetes-1-30-eks-57.yaml",
        ),
    )


def test_opening_the_gate_takes_the_delta_against_the_stored_findings_of_the_release_the_stage_runs() -> None:
    pointers, documents = FakePointers(), Documents()
    _promoted(pointers)
    previous = release_findings(
        [scan(PROXY, [finding(LOW, Severity.LOW), finding(OLD)], release="57")], release_id="1-30-57"
    )
    store_findings(previous, documents, prefix="eksd", channel="1-30", number=57)
    request, publisher, notes = _open(pointers, documents)
    findings, blocking = request.summary["findings"], request.summary["findings_gate"]
    assert findings["baseline"] == "stored" and findings["baseline_release_id"] == "1-30-57"
    assert [f["id"] for f in findings["new"]] == [HIGH] and [f["id"] for f in findings["fixed"]] == [OLD]
    assert [f["id"] for f in blocking["findings"]] == [HIGH] and blocking["block_on"] == "HIGH"
    (event,) = publisher.events
    assert event.detail.findings is not None and [f.id for f in event.detail.findings.new] == [HIGH]
    (message,) = notes.messages
    assert f"Blocking until accepted (--accept-findings): {HIGH}" in message and "Team tests: not configured" in message


def test_a_stage_running_a_release_without_findings_counts_every_finding_as_new() -> None:
    pointers, documents = FakePointers(), Documents()
    _promoted(pointers)  # 1-30-57 has no findings document: promoted before findings were recorded
    request, _, _ = _open(pointers, documents)
    findings = request.summary["findings"]
    assert findings["baseline"] == "unrecorded" and [f["id"] for f in findings["new"]] == [HIGH, LOW]
    assert findings["baseline_gaps"] == [PROXY] and findings["fixed"] == []


def test_a_gate_without_a_threshold_shows_findings_and_requires_nothing() -> None:
    request, _, _ = _open(FakePointers(), Documents(), StageRule(approvers=(ROLE,)))
    assert [f["id"] for f in request.summary["findings"]["new"]] == [HIGH, LOW]
    assert request.summary["findings_gate"] == {"block_on": None, "findings": [], "incomplete_scans": []}


def test_an_altered_findings_document_is_refused_when_the_gate_opens() -> None:
    documents = Documents()
    original = documents.put
    key = findings_key("eksd", "1-30", 58)

    def tamper(k: str, body: bytes, **kw: Any) -> str:
        return original(k, body.replace(b"CVE-2099-0001", b"CVE-2099-0009") if k == key else body, **kw)

    documents.put = tamper  # type: ignore[method-assign]
    with pytest.raises(FindingsDocumentError, match="does not hash to"):
        _open(FakePointers(), documents)
