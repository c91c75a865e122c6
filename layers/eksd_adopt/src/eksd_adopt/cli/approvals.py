"""Approvers' commands: ``approvals list``/``show``, ``approve``, ``reject``, ``rollback``, sent to the signed endpoint.

Every request is signed with SigV4 (service ``lambda``) using the caller's ambient AWS credentials; the
endpoint learns who is deciding from that signature, so no command takes an identity argument.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any
from urllib.parse import urlsplit

import httpx
import typer

from eksd_adopt.cli.common import EXIT_USAGE, console, fail, print_json

approvals_app = typer.Typer(help="Release approval gates awaiting a decision.", no_args_is_help=True)

EndpointUrlOption = typer.Option(
    None, "--endpoint-url", help="The approvals endpoint (function URL); default: $EKSD_ADOPT_APPROVALS_URL."
)
RegionOption = typer.Option(None, "--region", help="Region to sign for; default: from the URL or $AWS_REGION.")
# A function URL's host, matched whole: a region found anywhere else in the URL is not the URL's.
_URL_REGION = re.compile(r"[a-z0-9]+\.lambda-url\.([a-z0-9-]+)\.on\.aws", re.ASCII)
# A release id or stage name as one path segment of GET /approvals/<release>/<stage>, matched whole.
PATH_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", re.ASCII)


def _endpoint(url: str | None) -> str:
    value = url or os.environ.get("EKSD_ADOPT_APPROVALS_URL")
    if not value or not value.startswith(("http://", "https://")):
        fail("no approvals endpoint: pass --endpoint-url or set EKSD_ADOPT_APPROVALS_URL", EXIT_USAGE)
    return value.rstrip("/")


def url_region(url: str) -> str | None:
    """The region of a Lambda function URL, read from its host alone (None for any other URL)."""
    match = _URL_REGION.fullmatch(urlsplit(url).hostname or "")
    return match.group(1) if match else None


def signed_request(method: str, url: str, body: dict[str, Any] | None = None, region: str | None = None) -> Any:
    """Send a SigV4-signed request (as the AWS_IAM auth of a function URL expects) and return its JSON body."""
    # botocore loads here, not at start-up: every other command stays quick to start.
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.session import Session

    session = Session()
    credentials = session.get_credentials()
    if credentials is None:
        fail("no AWS credentials found to sign the request (environment, profile or role)", EXIT_USAGE)
    signing_region = region or url_region(url) or session.get_config_variable("region") or "us-east-1"
    data = json.dumps(body).encode() if body is not None else b""
    request = AWSRequest(method=method, url=url, data=data, headers={"Content-Type": "application/json"})
    SigV4Auth(credentials.get_frozen_credentials(), "lambda", signing_region).add_auth(request)
    try:
        response = httpx.request(method, url, content=data, headers=dict(request.headers.items()), timeout=30)
    except httpx.HTTPError as exc:
        fail(f"cannot reach {url}: {exc}", EXIT_USAGE)
    try:
        payload = response.json()
    except ValueError:
        payload = {"error": response.text[:500]}
    if response.status_code >= 400:
        message = payload.get("error") or payload.get("message") or payload if isinstance(payload, dict) else payload
        fail(f"{response.status_code}: {message}")
    return payload


@approvals_app.command("list")
def list_approvals(
    endpoint_url: str | None = EndpointUrlOption,
    region: str | None = RegionOption,
    as_json: bool = typer.Option(False, "--json", help="Print the gates as JSON."),
) -> None:
    """Gates waiting for approvers: release, stage, votes so far, what changes."""
    gates = signed_request("GET", f"{_endpoint(endpoint_url)}/approvals", region=region)["approvals"]
    if as_json:
        print_json(json.dumps(gates))
        return
    if not gates:
        console.print("No release is awaiting approval.")
    for gate in gates:
        votes = [v["approver"] for v in gate.get("votes", []) if v["decision"] == "approve"]
        diff = (gate.get("summary") or {}).get("diff") or {}
        changes = [
            f"{c['component']} {c.get('before') or '-'} -> {c.get('after') or '-'}"
            for key in ("added", "removed", "changed")
            for c in diff.get(key, [])
        ]
        console.print(
            f"[bold]{gate['release_id']}[/] stage {gate['stage']} (Kubernetes {gate.get('kubernetes_version')}): "
            f"{gate.get('approvals', len(votes))}/{gate['required_approvals']} approvals, expires {gate.get('expires_at')}",
            highlight=False,
        )
        console.print(f"  against {diff.get('current_release_id') or 'nothing promoted yet'}", highlight=False)
        for change in changes:
            console.print(f"  {change}", highlight=False)


@approvals_app.command("show")
def show_approval(
    release_id: str = typer.Argument(..., help="Release id, e.g. 1-30-58."),
    stage: str = typer.Option("prod", "--stage"),
    endpoint_url: str | None = EndpointUrlOption,
    region: str | None = RegionOption,
    as_json: bool = typer.Option(False, "--json", help="Print the request as JSON (for tools)."),
) -> None:
    """One gate in full: components that change, test results, vulnerability findings and what they need."""
    from eksd_adopt.cli.approvals_show import approval_view, render_approval

    for name, value in (("release id", release_id), ("--stage", stage)):
        if not PATH_SEGMENT.fullmatch(value):
            fail(f"{name} {value!r} is not a release id or stage name", EXIT_USAGE)
    gate = signed_request("GET", f"{_endpoint(endpoint_url)}/approvals/{release_id}/{stage}", region=region)
    try:
        view = approval_view(gate)
    except (LookupError, ValueError) as exc:
        fail(str(exc))
    if as_json:
        print_json(view.model_dump_json())
        return
    console.print(render_approval(view), highlight=False)


def approve(
    release_id: str = typer.Argument(..., help="Release id, e.g. 1-30-58."),
    stage: str = typer.Option("prod", "--stage"),
    comment: str | None = typer.Option(None, "--comment"),
    accept_findings: list[str] | None = typer.Option(
        None,
        "--accept-findings",
        help="Accept a new finding the stage's threshold blocks on (an advisory id, e.g. CVE-2024-3094), "
        "or 'incomplete-scan' for scans that did not complete; repeatable.",
    ),
    endpoint_url: str | None = EndpointUrlOption,
    region: str | None = RegionOption,
) -> None:
    """Approve a release for a stage (counts once per approver)."""
    body: dict[str, Any] = {"release_id": release_id, "stage": stage, "decision": "approve", "comment": comment}
    if accept_findings:
        from eksd_adopt.findings.gate import parse_accepted

        try:
            body["accepted_findings"] = list(parse_accepted(accept_findings))
        except ValueError as exc:
            fail(f"--accept-findings {exc}", EXIT_USAGE)
    outcome = signed_request("POST", f"{_endpoint(endpoint_url)}/decisions", body, region)
    counted = outcome.get("counted_as") or outcome["approver"]
    console.print(
        f"{release_id} {stage}: approved by {outcome['approver']}"
        + (f" (counts as {counted})" if counted != outcome["approver"] else "")
        + f" ({outcome['approvals']}/{outcome['required_approvals']}, gate {outcome['status']})",
        highlight=False,
    )


def reject(
    release_id: str = typer.Argument(..., help="Release id, e.g. 1-30-58."),
    stage: str = typer.Option("prod", "--stage"),
    reason: str = typer.Option(..., "--reason", help="Why: recorded in the ledger and sent with the event."),
    endpoint_url: str | None = EndpointUrlOption,
    region: str | None = RegionOption,
) -> None:
    """Reject a release for a stage: the adoption ends as rejected."""
    body = {"release_id": release_id, "stage": stage, "decision": "reject", "comment": reason}
    outcome = signed_request("POST", f"{_endpoint(endpoint_url)}/decisions", body, region)
    console.print(f"{release_id} {stage}: rejected by {outcome['approver']}", highlight=False)


def rollback(
    stage: str = typer.Option(..., "--stage"),
    channel: str = typer.Option(..., "--channel", help="e.g. 1-30"),
    to: int = typer.Option(
        ..., "--to", help="Release number to point the stage back at (must have been promoted there)."
    ),
    endpoint_url: str | None = EndpointUrlOption,
    region: str | None = RegionOption,
) -> None:
    """Point a stage back at an earlier release it had promoted."""
    body = {"stage": stage, "channel": channel, "to": to}
    pointer = signed_request("POST", f"{_endpoint(endpoint_url)}/rollbacks", body, region)
    console.print(
        f"{stage} {channel} now points at {pointer['release_id']} ({pointer['manifest_location']})", highlight=False
    )
