"""The approvers' endpoint handler on in-memory fakes: routes, bodies and errors to statuses (Powertools' resolver)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from eksd_adopt.approvals import api as routes
from eksd_adopt.events import InMemoryPublisher
from eksd_adopt.findings import FindingsRule, Severity, required_acknowledgments
from eksd_adopt.local.lambdas import LambdaContext, load_handler
from tests.unit.approvals.fakes import BOB, ROLE, FakeCallbacks, gate
from tests.unit.findings.builders import finding, release_findings, scan

HANDLER = Path(__file__).resolve().parents[3] / "functions" / "approvals_api" / "handler.py"
ALICE = "arn:aws:sts::111122223333:assumed-role/Approvers/alice"
HIGH = "CVE-2099-0001"


def _module() -> ModuleType:
    return load_handler("approvals_api")


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("LEDGER_TABLE", "ledger")
    monkeypatch.setenv("ARCHIVE_BUCKET", "bucket")
    rules = {"prod": {"approvers": [ROLE, BOB], "findings": {"block_on": "HIGH"}}}
    monkeypatch.setenv("STAGE_RULES", json.dumps(rules))
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    approvals, ledger = gate()
    findings = release_findings([scan("eks-distro/kubernetes/kube-proxy", [finding(HIGH)], release="58")])
    required = required_acknowledgments(findings, FindingsRule(block_on=Severity.HIGH))
    approvals.gates[("1-30-58", "prod")].summary.update(findings_gate=required.model_dump(mode="json"))
    module = _module()
    fakes = SimpleNamespace(
        approvals=lambda s: approvals,
        callbacks=lambda s: FakeCallbacks(),
        ledger=lambda s: ledger,
        publisher=lambda s: InMemoryPublisher(),
    )
    monkeypatch.setattr(routes, "wiring", fakes)  # the routes' module, shared by every load of the handler
    return SimpleNamespace(module=module, approvals=approvals)


def request(
    api: Any, method: str, path: str, body: Any = None, *, caller: str | None = ALICE, encoded: bool = False
) -> tuple[int, dict[str, Any]]:
    raw = json.dumps(body) if body is not None else None
    if raw is not None and encoded:
        raw = base64.b64encode(raw.encode()).decode()
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "stage": "$default",
            "http": {"method": method, "path": path},
            "authorizer": {"iam": {"userArn": caller}} if caller else {},
        },
        "body": raw,
        "isBase64Encoded": encoded,
    }
    context = LambdaContext.of("approvals_api")
    response = api.module.handler(event, context)
    return int(response["statusCode"]), json.loads(response["body"])


def decision(accepted: Any = None, **overrides: Any) -> dict[str, Any]:
    body = {"release_id": "1-30-58", "stage": "prod", "decision": "approve", "comment": None, **overrides}
    if accepted is not None:
        body["accepted_findings"] = accepted
    return body


def test_approving_over_a_blocking_finding_is_409_naming_it(api: Any) -> None:
    status, body = request(api, "POST", "/decisions", decision())
    assert status == 409 and HIGH in body["error"]
    assert api.approvals.gates[("1-30-58", "prod")].votes == []


@pytest.mark.parametrize(
    "accepted", [["cve-2099-0001"], ["CVE-2099-0001 "], ["CVE-\u0662\u0660\u0669\u0669-1"], "CVE-2099-0001", [7]]
)
def test_a_malformed_accepted_id_is_400_naming_the_field(api: Any, accepted: Any) -> None:
    status, body = request(api, "POST", "/decisions", decision(accepted))
    assert status == 400 and "accepted_findings" in body["error"], body


def test_accepting_the_blocking_finding_approves_and_records_it(api: Any) -> None:
    status, body = request(api, "POST", "/decisions", decision([HIGH]), encoded=True)  # base64 bodies decoded too
    assert status == 200 and body["status"] == "approved", body
    assert api.approvals.gates[("1-30-58", "prod")].votes[0].accepted_findings == [HIGH]


def test_get_one_gate_returns_its_request_without_its_token(api: Any) -> None:
    status, body = request(api, "GET", "/approvals/1-30-58/prod")
    assert status == 200 and body["release_id"] == "1-30-58" and body["approvals"] == 0
    assert body["summary"]["findings_gate"]["findings"][0]["id"] == HIGH and "task_token" not in body
    status, body = request(api, "GET", "/approvals/1-30-99/prod")
    assert status == 404 and "no approval was requested for 1-30-99 in prod" in body["error"]


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/approvals/1-30-58/PROD", "stage"),
        ("/approvals/1-30-58/-prod", "stage"),
        ("/approvals/1-30-58/pr\u00f6d", "stage"),
        ("/approvals/latest/prod", "release_id"),
        ("/approvals/1-30-5\u0668/prod", "release_id"),
    ],
)
def test_a_gate_named_by_a_malformed_path_is_refused_naming_the_field(api: Any, path: str, field: str) -> None:
    status, body = request(api, "GET", path)
    assert status == 400 and body["error"].startswith(field)


def test_a_decision_for_a_malformed_gate_is_refused_naming_the_field(api: Any) -> None:
    status, body = request(api, "POST", "/decisions", decision(stage="prod\n"))
    assert status == 400 and "stage" in body["error"]
    status, body = request(api, "POST", "/decisions", decision(release_id="1-30-58 OR 1=1"))
    assert status == 400 and "release_id" in body["error"]
    assert api.approvals.gates[("1-30-58", "prod")].votes == []


def test_the_existing_routes_and_refusals_keep_their_statuses(api: Any) -> None:
    status, body = request(api, "GET", "/approvals")
    assert status == 200 and [g["release_id"] for g in body["approvals"]] == ["1-30-58"]
    assert request(api, "GET", "/approvals", caller=None)[0] == 401
    assert request(api, "POST", "/decisions", decision(), caller="arn:aws:iam::111122223333:user/mallory")[0] == 403
    assert request(api, "POST", "/decisions", decision(decision="reject"))[0] == 400  # a rejection needs a reason
    assert request(api, "POST", "/decisions", [1, 2])[0] == 400  # not an object
    status, body = request(api, "DELETE", "/decisions")
    assert status == 404 and body["error"] == "no route DELETE /decisions"


def test_the_handler_is_thin() -> None:
    source = HANDLER.read_text().split("def handler(", 1)[1]
    assert len(source.splitlines()) < 30
