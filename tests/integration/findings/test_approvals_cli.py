"""``approvals show`` and ``approve --accept-findings`` against a loopback approvals endpoint.

The endpoint is a small HTTP server on 127.0.0.1 answering as the approvals function does (its list
payload, its decision outcome) and recording what it was sent, so the tests see the signed requests
the CLI makes (SigV4 from the environment's keys) and the bodies they carry.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from typer.testing import CliRunner

from eksd_adopt.cli.main import app
from eksd_adopt.findings import FindingsRule, ScanStatus, Severity
from eksd_adopt.local.httpserver import LoopbackHTTPServer
from eksd_adopt.local.scanner import DEMO_HIGH
from tests.unit.findings.builders import gate_payload, release_findings, scan


class Endpoint:
    """What the stand-in endpoint serves and what it was sent."""

    def __init__(self) -> None:
        self.gates: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Endpoint, str]]:
    state = Endpoint()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            state.requests.append(("GET", self.path, dict(self.headers), b""))
            if self.path == "/approvals":
                return self._answer(200, {"approvals": state.gates})
            for gate in state.gates:  # GET /approvals/<release>/<stage>, as the approvals function routes it
                if self.path == f"/approvals/{gate['release_id']}/{gate['stage']}":
                    return self._answer(200, gate)
            _, _, release, stage = [*self.path.split("/"), "", "", ""][:4]
            self._answer(404, {"error": f"no approval was requested for {release} in {stage}"})

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.requests.append(("POST", self.path, dict(self.headers), body))
            sent = json.loads(body)
            outcome = {
                "release_id": sent["release_id"],
                "stage": sent["stage"],
                "decision": "approve",
                "approver": "arn:aws:iam::123456789012:user/alice",
                "counted_as": "arn:aws:iam::123456789012:user/alice",
                "approvals": 1,
                "required_approvals": 1,
                "status": "approved",
            }
            self._answer(200, outcome)

        def log_message(self, *args: object) -> None:
            pass

    server = LoopbackHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def endpoint(served: tuple[Endpoint, str], monkeypatch: pytest.MonkeyPatch) -> Endpoint:
    state, url = served
    state.gates, state.requests = [], []
    for key, value in {
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "EKSD_ADOPT_APPROVALS_URL": url,
        "COLUMNS": "80",
    }.items():
        monkeypatch.setenv(key, value)
    return state


def run(args: list[str]) -> Any:
    return CliRunner().invoke(app, args)


def demo_gate() -> dict[str, Any]:
    findings = release_findings(
        [
            scan("eks-distro/kubernetes/kube-proxy", [DEMO_HIGH], release="3"),
            scan("eks-distro/kubernetes/pause", release="3", status=ScanStatus.UNSUPPORTED_IMAGE),
        ]
    )
    return gate_payload(findings, FindingsRule(block_on=Severity.HIGH))


def test_show_renders_the_gate_it_reads_signed(endpoint: Endpoint) -> None:
    endpoint.gates = [gate_payload(release_id="1-20-4"), demo_gate()]
    result = run(["approvals", "show", "1-20-3", "--stage", "prod"])
    assert result.exit_code == 0, result.output
    assert DEMO_HIGH.id in result.output and "UNSUPPORTED_IMAGE" in result.output
    assert "--accept-findings incomplete-scan" in result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80
    ((method, path, headers, _),) = endpoint.requests
    assert (method, path) == ("GET", "/approvals/1-20-3/prod")
    assert headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/us-east-1/lambda/aws4_request" in headers["Authorization"]


def test_show_json_is_the_view_for_tools(endpoint: Endpoint) -> None:
    endpoint.gates = [demo_gate()]
    result = run(["approvals", "show", "1-20-3", "--stage", "prod", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["release_id"] == "1-20-3" and data["findings"]["new"][0]["id"] == DEMO_HIGH.id
    assert data["findings_gate"]["block_on"] == "HIGH" and "task_token" not in result.output


def test_show_of_a_gate_never_requested_fails_with_the_endpoints_answer(endpoint: Endpoint) -> None:
    endpoint.gates = [demo_gate()]
    result = run(["approvals", "show", "1-20-9", "--stage", "prod"])
    assert result.exit_code == 1
    assert "404: no approval was requested for 1-20-9 in prod" in result.output


@pytest.mark.parametrize("args", [["../x", "--stage", "prod"], ["1-20-3", "--stage", "prod/../a"], ["1-20-\u0663"]])
def test_show_refuses_a_release_or_stage_that_is_not_one_path_segment(endpoint: Endpoint, args: list[str]) -> None:
    result = run(["approvals", "show", *args])
    assert result.exit_code == 2 and "is not a release id or stage name" in result.output
    assert not endpoint.requests


def test_approve_sends_the_accepted_findings_in_the_decision(endpoint: Endpoint) -> None:
    args = ["approve", "1-20-3", "--stage", "prod", "--accept-findings", DEMO_HIGH.id]
    result = run([*args, "--accept-findings", "incomplete-scan", "--accept-findings", DEMO_HIGH.id])
    assert result.exit_code == 0, result.output
    ((method, path, _, body),) = endpoint.requests
    assert (method, path) == ("POST", "/decisions")
    assert json.loads(body) == {
        "release_id": "1-20-3",
        "stage": "prod",
        "decision": "approve",
        "comment": None,
        "accepted_findings": [DEMO_HIGH.id, "incomplete-scan"],
    }


def test_approve_without_acceptance_sends_the_body_it_always_did(endpoint: Endpoint) -> None:
    assert run(["approve", "1-20-3", "--stage", "prod"]).exit_code == 0
    ((_, _, _, body),) = endpoint.requests
    assert "accepted_findings" not in json.loads(body)


@pytest.mark.parametrize("value", ["cve-2024-0001", "CVE-2024-0001\n", "CVE-\u0662\u0660\u0662\u0664-1", "x" * 10_000])
def test_a_bad_id_is_refused_before_anything_is_sent(endpoint: Endpoint, value: str) -> None:
    result = run(["approve", "1-20-3", "--stage", "prod", "--accept-findings", value])
    assert result.exit_code == 2 and "--accept-findings accepted finding 1" in result.output
    assert len(result.output) < 400 and not endpoint.requests
