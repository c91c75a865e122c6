"""What ``eksd-adopt approvals show RELEASE --stage S`` shows: an approval request as readable tables, or as JSON.

The request comes from the approvals endpoint as JSON; :func:`approval_view` reads it into a typed
:class:`ApprovalView` (every field checked, a bad one named), and :func:`render_approval` turns that
into rich renderables that stay readable at 80 columns: the components that change, the test
results, and the vulnerability findings (counts per image, what this release brings in and what it
fixes against the release the stage runs). A request without findings says "not scanned", and a
scan that did not complete is listed as such: neither is ever shown as "no findings".
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from eksd_adopt.findings.delta import DeltaFinding
from eksd_adopt.findings.gate import INCOMPLETE_SCAN, RequiredAcknowledgments
from eksd_adopt.findings.model import SEVERITIES, Severity
from eksd_adopt.findings.summary import FindingsSummary

SEVERITY_STYLES = {
    Severity.CRITICAL: "bold red",
    Severity.HIGH: "red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "",
    Severity.INFORMATIONAL: "dim",
    Severity.UNDEFINED: "magenta",
    Severity.UNTRIAGED: "magenta",
}
SEVERITY_HEADERS = {
    Severity.CRITICAL: "CRIT",
    Severity.HIGH: "HIGH",
    Severity.MEDIUM: "MED",
    Severity.LOW: "LOW",
    Severity.INFORMATIONAL: "INFO",
}
DECIDED = {"approve": "approved", "reject": "rejected"}
UNKNOWN_HEADER = "N/A"  # UNDEFINED and UNTRIAGED: no severity assigned yet
MAX_FAILURES_SHOWN = 5
MAX_ACCEPT_SHOWN = 10


class ComponentRow(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    component: str
    change: Literal["added", "removed", "changed"]
    before: str | None = None
    after: str | None = None


class CheckRow(BaseModel):
    """One test step's result as the approvers see it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    result: Literal["passed", "FAILED", "not configured", "not run"]
    checks: int | None = None
    failed: int | None = None
    failures: tuple[str, ...] = ()


class VoteRow(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    approver: str
    counted_as: str | None = None
    decision: str
    comment: str | None = None
    decided_at: datetime | None = None
    accepted_findings: tuple[str, ...] = ()  # what this approver accepted of the gate's blocking findings


class ApprovalView(BaseModel):
    """An approval request as ``approvals show`` presents it (and prints with ``--json``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    release_id: str
    stage: str
    channel: str
    kubernetes_version: str | None = None
    status: str
    approvals: int = Field(ge=0)
    required_approvals: int = Field(ge=1)
    requested_at: datetime | None = None
    expires_at: datetime | None = None
    against: str | None = None  # the release the stage runs now (None: nothing promoted there yet)
    components: tuple[ComponentRow, ...] = ()
    tests: tuple[CheckRow, ...] = ()
    votes: tuple[VoteRow, ...] = ()
    staged_manifest_location: str | None = None
    findings: FindingsSummary | None = None  # None: the request carries no scan (never "no findings")
    findings_gate: RequiredAcknowledgments | None = None  # what must be accepted at this gate, when it has a threshold


class _Change(BaseModel):
    model_config = ConfigDict(extra="ignore")

    component: str
    before: str | None = None
    after: str | None = None


class _Diff(BaseModel):
    model_config = ConfigDict(extra="ignore")

    current_release_id: str | None = None
    added: list[_Change] = Field(default_factory=list)
    removed: list[_Change] = Field(default_factory=list)
    changed: list[_Change] = Field(default_factory=list)


class _Summary(BaseModel):
    """What the workflow puts in a request's summary (``request_approval``), findings once the scan step runs."""

    model_config = ConfigDict(extra="ignore")

    diff: _Diff = Field(default_factory=_Diff)
    verification: dict[str, Any] | None = None
    tests: dict[str, Any] | None = None
    staged_manifest_location: str | None = None
    findings: FindingsSummary | None = None
    findings_gate: RequiredAcknowledgments | None = None


class _Gate(BaseModel):
    """The parts of a gate in the endpoint's list payload that the view reads (others are ignored)."""

    model_config = ConfigDict(extra="ignore")

    release_id: str
    stage: str
    channel: str
    kubernetes_version: str | None = None
    status: str = "pending"
    approvals: int | None = None
    required_approvals: int = 1
    requested_at: datetime | None = None
    expires_at: datetime | None = None
    votes: list[VoteRow] = Field(default_factory=list)
    summary: _Summary = Field(default_factory=_Summary)


def _check_row(name: str, report: Any, *, optional: bool = False) -> CheckRow:
    if not report:
        return CheckRow(name=name, result="not configured" if optional else "not run")
    if optional and isinstance(report, dict) and report.get("configured") is False:
        # The workflow's NoTeamTest state: no team test step is configured, which is not a failure.
        return CheckRow(name=name, result="not configured")
    if not isinstance(report, dict):
        raise ValueError(f"{name}: expected an object, got {type(report).__name__}")
    failures = [
        f"{f.get('artifact', '?')}: {f.get('check', '?')} {f.get('detail', '')}".strip()
        for f in (report.get("failures") or [])[:MAX_FAILURES_SHOWN]
        if isinstance(f, dict)
    ]
    return CheckRow(
        name=name,
        result="passed" if report.get("ok") else "FAILED",
        checks=report.get("checks"),
        failed=report.get("failed"),
        failures=tuple(failures),
    )


def approval_view(gate: dict[str, Any]) -> ApprovalView:
    """The view of one gate from the approvals endpoint's payload; ValueError naming the field that does not fit."""
    try:
        parsed = _Gate.model_validate(gate)
        summary = parsed.summary
        diff = summary.diff
        components = [
            ComponentRow(component=c.component, change=change, before=c.before, after=c.after)
            for change, entries in (("added", diff.added), ("removed", diff.removed), ("changed", diff.changed))
            for c in entries
        ]
        tests = summary.tests or {}
        return ApprovalView(
            release_id=parsed.release_id,
            stage=parsed.stage,
            channel=parsed.channel,
            kubernetes_version=parsed.kubernetes_version,
            status=parsed.status,
            approvals=parsed.approvals if parsed.approvals is not None else len(parsed.votes),
            required_approvals=parsed.required_approvals,
            requested_at=parsed.requested_at,
            expires_at=parsed.expires_at,
            against=diff.current_release_id,
            components=tuple(components),
            tests=(
                _check_row("verification", summary.verification),
                _check_row("smoke tests", tests.get("smoke")),
                _check_row("team tests", tests.get("team"), optional=True),
            ),
            votes=tuple(parsed.votes),
            staged_manifest_location=summary.staged_manifest_location,
            findings=summary.findings,
            findings_gate=summary.findings_gate,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"])) or "request"
        raise ValueError(f"the approval request does not fit ({where}: {first['msg']})") from exc


def find_gate(gates: list[Any], release_id: str, stage: str) -> dict[str, Any]:
    """The gate of ``release_id`` in ``stage`` among the endpoint's gates; LookupError naming what is there."""
    for gate in gates:
        if isinstance(gate, dict) and gate.get("release_id") == release_id and gate.get("stage") == stage:
            return gate
    waiting = sorted(f"{g.get('release_id')} ({g.get('stage')})" for g in gates if isinstance(g, dict))
    raise LookupError(
        f"no pending approval of {release_id} for {stage}"
        + (f"; awaiting approval: {', '.join(waiting)}" if waiting else "; nothing is awaiting approval")
    )


def _text(value: object, style: str = "") -> Text:
    # Text, never markup: names and packages are outside text, and "[...]" in them must print as is.
    return Text("" if value is None else str(value), style=style)


def _severity(severity: Severity) -> Text:
    return Text(severity.value, style=SEVERITY_STYLES[severity])


def _table(title: str, *, expand: bool = False) -> Table:
    # expand: the columns with a ratio share the width left, so long image paths fold least.
    return Table(
        title=title, title_justify="left", title_style="bold", box=box.SIMPLE_HEAD, pad_edge=False, expand=expand
    )


def _header(view: ApprovalView) -> Text:
    text = Text()
    text.append(f"{view.release_id} for {view.stage}", style="bold")
    text.append(f"  (channel {view.channel}, Kubernetes {view.kubernetes_version or 'unknown'})\n")
    text.append(f"{view.status}, {view.approvals}/{view.required_approvals} approvals")
    if view.expires_at:
        text.append(f", expires {view.expires_at.isoformat(timespec='minutes')}")
    text.append(f"\nagainst {view.against or 'nothing: no release promoted in ' + view.stage + ' yet'}")
    for vote in view.votes:
        text.append(f"\n{DECIDED.get(vote.decision, vote.decision)} by ")
        text.append(vote.approver)
        if vote.comment:
            text.append(f": {vote.comment}")
        if vote.accepted_findings:
            text.append(f" (accepted {', '.join(vote.accepted_findings)})")
    return text


def _components(view: ApprovalView) -> RenderableType:
    if not view.components:
        return Text(f"Components: no changes against {view.against or 'an empty stage'}.")
    table = _table("Components")
    table.add_column("Component", overflow="fold")
    table.add_column("Change")
    table.add_column("Before", overflow="fold")
    table.add_column("After", overflow="fold")
    for row in view.components:
        table.add_row(_text(row.component), row.change, _text(row.before or "-"), _text(row.after or "-"))
    return table


def _tests(view: ApprovalView) -> RenderableType:
    table = _table("Tests")
    table.add_column("Step")
    table.add_column("Result")
    table.add_column("Checks", justify="right")
    table.add_column("Failed", justify="right")
    for row in view.tests:
        style = "red bold" if row.result == "FAILED" else ("green" if row.result == "passed" else "dim")
        table.add_row(
            row.name,
            Text(row.result, style=style),
            "" if row.checks is None else str(row.checks),
            "" if row.failed is None else str(row.failed),
        )
        for failure in row.failures:
            table.add_row("", _text(failure, "red"), "", "")
    return table


def _counts_row(counts: dict[Severity, int]) -> list[Text]:
    cells = [
        Text(str(counts.get(s, 0)), style=SEVERITY_STYLES[s] if counts.get(s) else "dim") for s in SEVERITY_HEADERS
    ]
    unknown = counts.get(Severity.UNDEFINED, 0) + counts.get(Severity.UNTRIAGED, 0)
    cells.append(Text(str(unknown), style="magenta" if unknown else "dim"))
    return cells


def _image_counts(findings: FindingsSummary) -> RenderableType:
    listed = [i for i in findings.images if not i.complete or any(i.counts.values())]
    clean = len(findings.images) - len(listed) + findings.images_more
    if not listed:
        return Text(f"Findings per image: none in any of the {clean} images scanned.")
    table = _table("Findings per image (distinct advisories)", expand=True)
    table.add_column("Image", overflow="fold", ratio=1)
    for severity in SEVERITY_HEADERS.values():
        table.add_column(severity, justify="right")
    table.add_column(UNKNOWN_HEADER, justify="right")
    for image in listed:
        name = _text(image.image)
        if not image.complete:
            name.append(" *", style="red bold")
        table.add_row(name, *_counts_row(image.counts))
    parts: list[RenderableType] = [table]
    if any(not i.complete for i in listed):
        parts.append(Text("* not every platform scanned: counts cover the scanned ones only", style="red"))
    if clean:
        parts.append(Text(f"{clean} other images scanned: no findings."))
    return Group(*parts)


def _incomplete(findings: FindingsSummary, gate: RequiredAcknowledgments | None) -> RenderableType | None:
    rows = [(i, p) for i in findings.images for p in i.incomplete]
    if not rows and findings.complete:
        return None
    table = _table(f"Scans that did not complete ({findings.incomplete_scans} of {findings.scans})", expand=True)
    table.add_column("Image (and why)", overflow="fold", ratio=1)
    table.add_column("Platform")
    table.add_column("State")
    for image, platform in rows:
        name = _text(image.image)
        if platform.detail:
            name.append(f"\n{platform.detail}", style="dim")
        table.add_row(name, platform.platform, Text(platform.status.value, style="red"))
    parts: list[RenderableType] = [table]
    if gate is not None and gate.incomplete_scans:
        parts.append(Text("At this gate these block promotion unless accepted (below).", style="red"))
    return Group(*parts)


def _delta_table(title: str, entries: tuple[DeltaFinding, ...], blocking: frozenset[str]) -> Table:
    table = _table(title, expand=True)
    table.add_column("Severity")
    table.add_column("Advisory", overflow="fold", min_width=19)
    table.add_column("Image (package, platforms)", overflow="fold", ratio=1)
    for entry in entries:
        advisory = _text(entry.id, "bold" if entry.id in blocking else "")
        if entry.id in blocking:
            advisory.append(" !", style="red bold")
        image = _text(entry.image)
        package = " ".join(p for p in (entry.package, entry.version) if p)
        if package:
            image.append(f"\n{package}")
        if entry.platforms:
            image.append(f"\n{', '.join(entry.platforms)}", style="dim")
        table.add_row(_severity(entry.severity), advisory, image)
    return table


def _counted(counts: dict[Severity, int]) -> str:
    shown = [f"{n} {s.value}" for s in SEVERITIES if (n := counts.get(s, 0))]
    return ", ".join(shown) or "none"


def _delta(view: ApprovalView, findings: FindingsSummary) -> list[RenderableType]:
    gate = view.findings_gate
    blocking = frozenset(f.id for f in gate.findings) if gate is not None else frozenset()
    against = findings.baseline_release_id or f"an empty {view.stage}"
    parts: list[RenderableType] = []
    if findings.new:
        parts.append(_delta_table(f"New against {against}: {_counted(findings.new_counts)}", findings.new, blocking))
        if findings.new_more:
            parts.append(Text(f"... and {findings.new_more} more new findings: {findings.location}"))
    else:
        parts.append(Text(f"New findings against {against}: none among the scans that completed."))
    if findings.fixed:
        title = f"Fixed against {against}: {_counted(findings.fixed_counts)}"
        parts.append(_delta_table(title, findings.fixed, frozenset()))
        if findings.fixed_more:
            parts.append(Text(f"... and {findings.fixed_more} more fixed findings: {findings.location}"))
    elif findings.baseline_release_id:
        parts.append(Text(f"Fixed against {against}: none."))
    notes = [
        (findings.baseline_gaps, "older findings may be counted as new (the baseline's scan did not complete)"),
        (findings.unconfirmed_fixed, "fixed findings not listed (this release's scan did not complete)"),
    ]
    for images, why in notes:
        if images:
            parts.append(Text(f"{', '.join(images)}: {why}.", style="yellow"))
    if gate is not None and gate.block_on is not None:
        parts.append(_acceptance(view, gate))
    return parts


def _acceptance(view: ApprovalView, gate: RequiredAcknowledgments) -> Text:
    """What this gate's threshold requires accepted, as the command that accepts it (one option a line)."""
    if not gate.findings and not gate.incomplete_scans:
        return Text(f"Nothing new at or above {gate.block_on}: nothing to accept.", style="green")
    needed = sorted({f.id for f in gate.findings})
    shown = needed[:MAX_ACCEPT_SHOWN] + ([INCOMPLETE_SCAN] if gate.incomplete_scans else [])
    text = Text(
        f"Promotion to {view.stage} (threshold {gate.block_on}) needs each approver to accept "
        f"{len(needed)} new finding(s) marked !"
        + (" and the incomplete scans" if gate.incomplete_scans else "")
        + ":\n",
        style="red",
    )
    text.append(f"  eksd-adopt approve {view.release_id} --stage {view.stage}")
    for value in shown:
        text.append(f" \\\n    --accept-findings {value}")
    if len(needed) > MAX_ACCEPT_SHOWN:
        text.append(f"\n  (and {len(needed) - MAX_ACCEPT_SHOWN} more ids: approvals show --json lists them all)")
    return text


def _findings(view: ApprovalView) -> list[RenderableType]:
    findings = view.findings
    if findings is None:
        return [Text("Vulnerability findings: not scanned (this request carries no scan results).", style="yellow")]
    heading = Text("Vulnerability findings", style="bold")
    state = (
        Text(" (every scan complete)", style="green")
        if findings.complete
        else Text(f" ({findings.incomplete_scans} of {findings.scans} scans did not complete)", style="red bold")
    )
    heading.append_text(state)
    parts: list[RenderableType] = [heading, _image_counts(findings)]
    incomplete = _incomplete(findings, view.findings_gate)
    if incomplete is not None:
        parts.append(incomplete)
    parts.extend(_delta(view, findings))
    parts.append(Text(f"Full findings: {findings.location}", style="dim"))
    return parts


def render_approval(view: ApprovalView) -> Group:
    """The approval request as rich renderables: header, components, tests, findings."""
    parts: list[RenderableType] = [_header(view), Text(""), _components(view), _tests(view), *_findings(view)]
    if view.staged_manifest_location:
        parts.append(Text(f"Staged manifest: {view.staged_manifest_location}", style="dim"))
    parts.append(
        Text(f"Decide with: eksd-adopt approve {view.release_id} --stage {view.stage}  (or reject ... --reason TEXT)")
    )
    return Group(*parts)


__all__ = ["ApprovalView", "approval_view", "find_gate", "render_approval"]
