"""The approval gate of a stage (workflow step 5a): request, notify, decide, and the diff approvers see."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from eksd_adopt.approvals.errors import (
    ApprovalNotFoundError,
    ApprovalStateError,
    NotAnApproverError,
    StageNotConfiguredError,
)
from eksd_adopt.approvals.models import ApprovalRequest, ApprovalStatus, ApprovalVote, StageRule
from eksd_adopt.approvals.ports import ApprovalStore, ApproverNotifier, TaskCallbacks
from eksd_adopt.approvals.principals import principal_matches
from eksd_adopt.events import EventPublisher, EventType
from eksd_adopt.findings import (
    FindingsRef,
    FindingsSummary,
    ReleaseFindings,
    RequiredAcknowledgments,
    check_acknowledgments,
    findings_key,
    load_findings,
    required_acknowledgments,
    summarize,
)
from eksd_adopt.findings.stage import against_stage
from eksd_adopt.ledger import Decision, Ledger, ReleaseStatus
from eksd_adopt.ledger.model import utcnow
from eksd_adopt.workflow.errors import ArtifactMissingError
from eksd_adopt.workflow.manifests import component_versions, load_manifest
from eksd_adopt.workflow.models import ComponentChange, ReleaseDiff, ReleaseRef
from eksd_adopt.workflow.ports import DocumentStore, ReleasePointers
from eksd_adopt.workflow.publishing import emit

REJECTED_ERROR = "ReleaseRejected"  # the error the gate fails with; the state machine catches it by name


def diff_manifests(current: dict[str, Any] | None, new: dict[str, Any], current_release_id: str | None) -> ReleaseDiff:
    """Components added, removed and changed (by gitTag) going from ``current`` to ``new``."""
    before = component_versions(current) if current else {}
    after = component_versions(new)
    return ReleaseDiff(
        current_release_id=current_release_id,
        added=[ComponentChange(component=n, before=None, after=after[n]) for n in sorted(after.keys() - before.keys())],
        removed=[
            ComponentChange(component=n, before=before[n], after=None) for n in sorted(before.keys() - after.keys())
        ],
        changed=[
            ComponentChange(component=n, before=before[n], after=after[n])
            for n in sorted(after.keys() & before.keys())
            if before[n] != after[n]
        ],
    )


def diff_against_stage(
    release: ReleaseRef, stage: str, manifest_location: str, *, pointers: ReleasePointers, store: DocumentStore
) -> ReleaseDiff:
    """The diff against the release the stage currently points to for this channel (none: all added)."""
    new = load_manifest(store.get(manifest_location))
    pointer = pointers.get(stage, release.channel)
    current = load_manifest(store.get(pointer.manifest_location)) if pointer else None
    return diff_manifests(current, new, pointer.release_id if pointer else None)


class GateRequest(BaseModel):
    """What the state machine passes when it opens a gate (``.waitForTaskToken``)."""

    release: ReleaseRef
    stage: str
    task_token: str
    timeout_seconds: int
    staged_manifest_location: str
    verification: dict[str, Any]
    tests: dict[str, Any]
    findings: FindingsRef | None = None  # the scan step's document; None: the workflow did not scan


def stage_findings(
    release: ReleaseRef,
    stage: str,
    ref: FindingsRef,
    rule: StageRule,
    *,
    pointers: ReleasePointers,
    store: DocumentStore,
    prefix: str,
) -> tuple[FindingsSummary, RequiredAcknowledgments]:
    """The release's findings against the release ``stage`` runs now, and what the stage's rule requires accepted.

    Computed once, when the gate opens, from the whole document (checked against its sha256); the
    previous release's document is read from where its own scan step stored it.
    """
    findings = load_findings(ref.location, store, release_id=release.release_id, sha256=ref.sha256)
    pointer = pointers.get(stage, release.channel)
    baseline: ReleaseFindings | None = None
    if pointer is not None:
        number = int(pointer.release_id.rsplit("-", 1)[1])
        try:
            location = store.location(findings_key(prefix, release.channel, number))
            baseline = load_findings(location, store, release_id=pointer.release_id)
        except ArtifactMissingError:
            baseline = None  # promoted before findings were recorded: its findings are unknown, not none
    staged = against_stage(findings, pointer.release_id if pointer else None, baseline)
    return summarize(staged, ref), required_acknowledgments(staged, rule.findings)


def _findings_lines(summary: FindingsSummary | None, gate: RequiredAcknowledgments | None) -> list[str]:
    if summary is None:
        return ["Findings: not scanned"]
    new = ", ".join(f"{n} {s.value}" for s, n in summary.new_counts.items() if n) or "none"
    lines = [f"Findings: {summary.scans} platform images scanned, {summary.incomplete_scans} incomplete; new: {new}"]
    if gate is not None and gate.ids():
        lines.append(f"  Blocking until accepted (--accept-findings): {', '.join(sorted(gate.ids()))}")
    return lines


def render_summary(
    release: ReleaseRef,
    stage: str,
    diff: ReleaseDiff,
    gate: GateRequest,
    rule: StageRule,
    findings: tuple[FindingsSummary, RequiredAcknowledgments] | None = None,
) -> str:
    lines = [
        f"Release {release.release_id} (Kubernetes {release.kubernetes_version or 'unknown'}) awaits approval for {stage}.",
        f"Approvals needed: {rule.required_approvals} of: {', '.join(rule.approvers)}",
        "  (a role counts once whatever its session names"
        + (f"; each session of {', '.join(rule.distinct_session_roles)} counts" if rule.distinct_session_roles else "")
        + ")",
        f"Currently in {stage} for channel {release.channel}: {diff.current_release_id or 'nothing'}",
    ]
    for title, changes in (("Added", diff.added), ("Removed", diff.removed), ("Changed", diff.changed)):
        for c in changes:
            lines.append(f"  {title}: {c.component} {c.before or ''} -> {c.after or ''}".rstrip(" ->"))
    if diff.empty:
        lines.append("  No component changes.")
    v, smoke = gate.verification, gate.tests.get("smoke") or {}
    lines.append(f"Verification: {'passed' if v.get('ok') else 'FAILED'} ({v.get('checks', 0)} checks)")
    lines.append(f"Smoke tests: {'passed' if smoke.get('ok') else 'FAILED'} ({smoke.get('checks', 0)} checks)")
    team = gate.tests.get("team") or {}
    configured = bool(team) and team.get("configured") is not False  # NoTeamTest passes {"configured": false}
    lines.append(f"Team tests: {'passed' if configured else 'not configured'}")
    lines.extend(_findings_lines(*(findings or (None, None))))
    lines.append(f"Staged manifest: {gate.staged_manifest_location}")
    lines.append(f"Decide with: eksd-adopt approve {release.release_id} --stage {stage}  (or reject ... --reason TEXT)")
    return "\n".join(lines)


def request_approval(
    gate: GateRequest,
    rules: Mapping[str, StageRule],
    *,
    approvals: ApprovalStore,
    pointers: ReleasePointers,
    store: DocumentStore,
    notifier: ApproverNotifier,
    ledger: Ledger,
    publisher: EventPublisher,
    prefix: str = "eksd",
    now: datetime | None = None,
) -> ApprovalRequest:
    """Store the gate (token never leaves the table), tell the approvers what changes, and wait."""
    rule = rules.get(gate.stage)
    if rule is None:
        raise StageNotConfiguredError(f"stage {gate.stage!r} has no approvers configured (STAGE_RULES)")
    release, now = gate.release, now or utcnow()
    diff = diff_against_stage(release, gate.stage, gate.staged_manifest_location, pointers=pointers, store=store)
    findings = (
        stage_findings(release, gate.stage, gate.findings, rule, pointers=pointers, store=store, prefix=prefix)
        if gate.findings is not None
        else None
    )
    summary: dict[str, Any] = {
        "diff": diff.model_dump(mode="json"),
        "verification": gate.verification,
        "tests": gate.tests,
        "staged_manifest_location": gate.staged_manifest_location,
        # Absent, not empty, when the workflow did not scan: never read as "no findings".
        "findings": findings[0].model_dump(mode="json") if findings else None,
        "findings_gate": findings[1].model_dump(mode="json") if findings else None,
    }
    request = ApprovalRequest(
        release_id=release.release_id,
        stage=gate.stage,
        channel=release.channel,
        number=release.number,
        kubernetes_version=release.kubernetes_version,
        task_token=gate.task_token,
        required_approvals=rule.required_approvals,
        requested_at=now,
        expires_at=now + timedelta(seconds=gate.timeout_seconds),
        summary=summary,
    )
    approvals.put(request)
    ledger.update(release.release_id, status=ReleaseStatus.AWAITING_APPROVAL)
    notifier.notify(
        f"EKS-D {release.release_id} awaits approval for {gate.stage}"[:99],
        render_summary(release, gate.stage, diff, gate, rule, findings),
        {"stage": gate.stage, "channel": release.channel, "release_id": release.release_id},
    )
    emit(
        publisher,
        EventType.AWAITING_APPROVAL,
        release,
        stage=gate.stage,
        manifest_location=gate.staged_manifest_location,
        diff=summary["diff"],
        expires_at=request.expires_at,
        required_approvals=rule.required_approvals,
        findings=summary["findings"],
    )
    return request


class DecisionOutcome(BaseModel):
    release_id: str
    stage: str
    decision: str
    approver: str
    counted_as: str  # the approver as the count sees it: a role's sessions are one approver
    approvals: int
    required_approvals: int
    status: ApprovalStatus


def decide(
    caller_arn: str,
    release_id: str,
    stage: str,
    decision: str,
    comment: str | None,
    *,
    rules: Mapping[str, StageRule],
    approvals: ApprovalStore,
    callbacks: TaskCallbacks,
    ledger: Ledger,
    publisher: EventPublisher | None = None,
    accepted_findings: Sequence[str] = (),
    now: datetime | None = None,
) -> DecisionOutcome:
    """Record one approver's decision; resume the workflow once enough distinct approvers said yes (or one said no).

    An approval must accept every finding the gate's threshold blocks on (``accepted_findings``) and
    nothing else: :class:`~eksd_adopt.findings.FindingsNotAcknowledgedError` names what is missing or unknown.
    """
    if decision not in ("approve", "reject"):
        raise ValueError(f"decision must be approve or reject, not {decision!r}")
    if decision == "reject" and accepted_findings:
        raise ValueError("accepted findings go with an approval, not a rejection")
    rule = rules.get(stage)
    if rule is None:
        raise ApprovalStateError(f"stage {stage!r} has no approval gate (configured: {', '.join(sorted(rules))})")
    if not any(principal_matches(caller_arn, a) for a in rule.approvers):
        raise NotAnApproverError(f"{caller_arn} is not an approver of stage {stage}")
    if decision == "reject" and not (comment or "").strip():
        raise ValueError("a rejection needs a reason (--reason)")
    accepted = _accepted(approvals, release_id, stage, accepted_findings) if decision == "approve" else ()
    vote = ApprovalVote(
        approver=caller_arn,
        counted_as=rule.counted_as(caller_arn),
        decision=decision,
        comment=comment,
        decided_at=now or utcnow(),
        accepted_findings=list(accepted),
    )
    # The store admits one vote per counted_as (atomically): two sessions of one role cannot both count.
    request = approvals.add_vote(release_id, stage, vote)
    ledger.add_decision(
        release_id,
        Decision(
            stage=stage,
            approver=caller_arn,
            decision=decision,
            comment=comment,
            decided_at=vote.decided_at,
            accepted_findings=vote.accepted_findings,
        ),
    )
    count = len(request.approvers())
    status = ApprovalStatus.PENDING
    if decision == "reject":
        # Only the caller that closes the gate resumes the execution: a token is used once.
        if approvals.close(release_id, stage, ApprovalStatus.REJECTED):
            callbacks.fail(request.task_token, REJECTED_ERROR, f"rejected by {caller_arn}: {comment}")
        status = ApprovalStatus.REJECTED
    elif count >= request.required_approvals:
        if approvals.close(release_id, stage, ApprovalStatus.APPROVED):
            record = ledger.update(release_id, status=ReleaseStatus.APPROVED)
            if publisher is not None:
                ref = ReleaseRef(
                    release_id=release_id,
                    channel=record.channel,
                    number=record.number,
                    kubernetes_version=record.kubernetes_version,
                )
                approvers = [v.approver for v in request.votes if v.decision == "approve"]
                emit(publisher, EventType.APPROVED, ref, stage=stage, approvers=approvers, comment=comment)
            callbacks.succeed(
                request.task_token,
                {"stage": stage, "approvers": sorted(request.approvers()), "decided_at": vote.decided_at.isoformat()},
            )
        status = ApprovalStatus.APPROVED
    return DecisionOutcome(
        release_id=release_id,
        stage=stage,
        decision=decision,
        approver=caller_arn,
        counted_as=vote.counted_as or caller_arn,
        approvals=count,
        required_approvals=request.required_approvals,
        status=status,
    )


def _accepted(approvals: ApprovalStore, release_id: str, stage: str, accepted: Sequence[str]) -> tuple[str, ...]:
    """The accepted ids the gate required; FindingsNotAcknowledgedError when some blocking one is not accepted."""
    request = approvals.get(release_id, stage)
    if request is None:
        return ()  # no gate: recording the vote refuses it (ApprovalStateError)
    gate = request.summary.get("findings_gate")
    required = RequiredAcknowledgments.model_validate(gate) if gate else RequiredAcknowledgments()
    return check_acknowledgments(required, accepted).require().accepted


def gate_request(approvals: ApprovalStore, release_id: str, stage: str) -> dict[str, Any]:
    """One gate as approvers see it (``approvals show``), without its token; ApprovalStateError when there is none."""
    request = approvals.get(release_id, stage)
    if request is None:
        raise ApprovalNotFoundError(f"no approval was requested for {release_id} in {stage}")
    return {**request.model_dump(mode="json", exclude={"task_token"}), "approvals": len(request.approvers())}


def pending_approvals(approvals: ApprovalStore) -> list[dict[str, Any]]:
    """What ``approvals list`` shows: pending gates without their tokens, with their distinct approvals so far."""
    return [
        {**r.model_dump(mode="json", exclude={"task_token"}), "approvals": len(r.approvers())}
        for r in sorted(approvals.list(ApprovalStatus.PENDING), key=lambda r: r.requested_at)
    ]


__all__ = [
    "REJECTED_ERROR",
    "GateRequest",
    "decide",
    "diff_manifests",
    "gate_request",
    "pending_approvals",
    "request_approval",
]
