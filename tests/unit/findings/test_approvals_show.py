"""The approvers' view: the request's JSON read into a typed view, rendered as tables readable at 80 columns."""

from __future__ import annotations

import json

import pytest
from rich.console import Console

from eksd_adopt.cli.approvals_show import ApprovalView, approval_view, find_gate, render_approval
from eksd_adopt.findings import INCOMPLETE_SCAN, FindingsRule, ScanStatus, Severity
from eksd_adopt.findings.model import Finding
from eksd_adopt.local.scanner import DEMO_HIGH
from tests.unit.findings.builders import finding, gate_payload, release_findings, scan

PROXY = "eks-distro/kubernetes/kube-proxy"
PAUSE = "eks-distro/kubernetes/pause"
WEBHOOK = "eks-distro/kubernetes-csi/external-snapshotter/snapshot-validation-webhook"  # the longest EKS-D path


def rendered(view: ApprovalView, width: int = 80) -> str:
    console = Console(width=width, record=True, color_system=None, force_terminal=False)
    console.print(render_approval(view))
    return console.export_text()


def findings_of_a_typical_release():  # type: ignore[no-untyped-def]
    return release_findings(
        [
            scan(PROXY, [DEMO_HIGH, finding("CVE-2024-0002", Severity.LOW, package="glibc")], release="3"),
            scan(PAUSE, release="3", status=ScanStatus.UNSUPPORTED_IMAGE, detail="an image FROM scratch"),
            scan(WEBHOOK, [finding("GHSA-jfh8-c2jp-5v3q", Severity.MEDIUM, package="golang.org/x/net")], release="3"),
            scan("eks-distro/etcd-io/etcd", release="3"),
        ],
        [
            scan(
                PROXY, [finding("CVE-2024-0002", Severity.LOW, package="glibc"), finding("CVE-2023-9999")], release="1"
            ),
            scan(PAUSE, release="1", status=ScanStatus.UNSUPPORTED_IMAGE),
            scan(WEBHOOK, release="1"),
            scan("eks-distro/etcd-io/etcd", release="1"),
        ],
    )


def test_the_request_reads_at_80_columns_with_components_tests_and_findings() -> None:
    view = approval_view(gate_payload(findings_of_a_typical_release(), FindingsRule(block_on=Severity.HIGH)))
    text = rendered(view)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "1-20-3 for prod" in text and "1/2 approvals" in text and "against 1-20-1" in text
    assert "kubernetes" in text and "v1.20.4" in text and "v1.20.5" in text
    assert "verification" in text and "passed" in text and "team tests" in text and "not configured" in text
    # The findings: counts per image, the incomplete scan as such, the delta, what must be accepted.
    assert "2 of 4 scans did not complete" not in text and "1 of 4 scans did not complete" in text
    assert "UNSUPPORTED_IMAGE" in text and "an image FROM" in text  # the reason, folded in its column
    assert f"{DEMO_HIGH.id} !" in text and "GHSA-jfh8-c2jp-5v3q" in text  # ids whole, blocking one marked
    assert "New against 1-20-1: 1 HIGH, 1 MEDIUM" in text and "Fixed against 1-20-1: 1 HIGH" in text
    assert f"--accept-findings {DEMO_HIGH.id}" in text and f"--accept-findings {INCOMPLETE_SCAN}" in text
    assert "1 other images scanned: no findings." in text
    # The longest EKS-D image path is folded inside its column, never cut.
    assert (
        "".join(line.strip() for line in text.splitlines() if "snapshot" in line or "webhook" in line).count(
            "validation-webhook"
        )
        >= 1
    )


def test_a_request_without_findings_is_not_scanned_never_no_findings() -> None:
    text = rendered(approval_view(gate_payload(None)))
    assert "not scanned" in text and "no findings" not in text.lower().replace("not scanned", "")


def test_an_incomplete_release_never_reads_as_clean() -> None:
    findings = release_findings([scan(PROXY, release="3", status=ScanStatus.IN_PROGRESS, detail="still in progress")])
    text = rendered(approval_view(gate_payload(findings)))
    assert "1 of 1 scans did not complete" in text and "IN_PROGRESS" in text
    assert "every scan complete" not in text and "none in any" not in text


def test_nothing_to_accept_is_said_when_nothing_blocks() -> None:
    findings = release_findings([scan(PROXY, [finding("CVE-2024-0001", Severity.LOW)], release="3")])
    text = rendered(approval_view(gate_payload(findings, FindingsRule(block_on=Severity.HIGH))))
    assert "Nothing new at or above HIGH: nothing to accept." in text and "--accept-findings" not in text


def test_outside_text_is_printed_as_is_not_read_as_markup() -> None:
    payload = gate_payload(
        release_findings([scan(PROXY, [Finding(id="CVE-2024-0001", severity=Severity.HIGH, package="[bold]pkg[/]")])]),
        components={"added": [{"component": "[red]evil[/red]", "before": None, "after": "v1"}]},
    )
    text = rendered(approval_view(payload))
    assert "[red]evil[/red]" in text and "[bold]pkg[/]" in text


def test_long_lists_say_how_many_more_and_where_the_rest_is() -> None:
    findings = release_findings([scan(PROXY, [finding(f"CVE-2024-{n:04d}") for n in range(45)], release="3")])
    text = rendered(approval_view(gate_payload(findings)))
    flat = " ".join(text.split())
    assert (
        "... and 25 more new findings: s3://bucket/eksd/staging/kubernetes-1-20/kubernetes-1-20-eks-3.findings.json"
        in flat
    )
    assert max(len(line) for line in text.splitlines()) <= 80


def test_the_json_view_has_a_stable_shape_for_tools() -> None:
    view = approval_view(gate_payload(findings_of_a_typical_release(), FindingsRule(block_on=Severity.HIGH)))
    data = json.loads(view.model_dump_json())
    assert set(data) == {
        "release_id",
        "stage",
        "channel",
        "kubernetes_version",
        "status",
        "approvals",
        "required_approvals",
        "requested_at",
        "expires_at",
        "against",
        "components",
        "tests",
        "votes",
        "staged_manifest_location",
        "findings",
        "findings_gate",
    }
    assert data["components"] == [
        {"component": "kubernetes", "change": "changed", "before": "v1.20.4", "after": "v1.20.5"}
    ]
    assert [t["name"] for t in data["tests"]] == ["verification", "smoke tests", "team tests"]
    assert data["findings"]["new"][0] == {
        "image": PROXY,
        "id": DEMO_HIGH.id,
        "severity": "HIGH",
        "package": DEMO_HIGH.package,
        "version": DEMO_HIGH.version,
        "platforms": ["linux/amd64"],
    }
    assert data["findings"]["images"][0]["incomplete"][0]["status"] == "UNSUPPORTED_IMAGE"
    assert [f["id"] for f in data["findings_gate"]["findings"]] == [DEMO_HIGH.id]
    assert "task_token" not in json.dumps(data)
    assert ApprovalView.model_validate(data) == view  # what tools read back is the same view


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"required_approvals": 0}, "required_approvals"),
        ({"summary": {"findings": {"release_id": "1-20-3"}}}, "findings"),
        ({"summary": {"diff": {"added": [{"before": None}]}}}, "component"),
        ({"release_id": None}, "release_id"),
    ],
)
def test_a_request_that_does_not_fit_is_named(change: dict, field: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValueError, match=field):
        approval_view({**gate_payload(), **change})


def test_the_gate_is_found_by_release_and_stage() -> None:
    gates = [gate_payload(release_id="1-20-3"), gate_payload(release_id="1-20-4")]
    assert find_gate(gates, "1-20-4", "prod")["release_id"] == "1-20-4"
    with pytest.raises(
        LookupError, match=r"no pending approval of 1-20-5 for prod; awaiting approval: 1-20-3 \(prod\)"
    ):
        find_gate(gates, "1-20-5", "prod")
    with pytest.raises(LookupError, match="nothing is awaiting approval"):
        find_gate([], "1-20-3", "staging")
