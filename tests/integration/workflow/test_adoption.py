"""The adoption workflow end to end: the real ASL on moto's Step Functions, real handlers, real registries and CDN."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import yaml
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from typer.testing import CliRunner

from eksd_adopt.approvals.aws import DynamoDbApprovalStore
from eksd_adopt.approvals.models import ApprovalStatus
from eksd_adopt.ledger import ReleaseStatus
from eksd_adopt.ledger.dynamodb import DynamoDbLedger
from eksd_adopt.local.aws import LocalAws, LocalIdentity
from eksd_adopt.local.upstream import PublishedRelease, UpstreamSimulator
from tests.integration.workflow.conftest import (
    APPROVER_A,
    APPROVER_B,
    OUTSIDER,
    SHORT_TIMEOUT,
    Registry,
    workflow_input,
)

pytestmark = [pytest.mark.xdist_group("workflow"), pytest.mark.slow]


def call(
    aws: LocalAws, identity: LocalIdentity, method: str, path: str, body: dict[str, Any] | None = None
) -> httpx.Response:
    """A request signed as the CLI signs it (SigV4, service lambda)."""
    data = json.dumps(body).encode() if body is not None else b""
    request = AWSRequest(
        method=method, url=aws.approvals_url + path, data=data, headers={"Content-Type": "application/json"}
    )
    SigV4Auth(identity.credentials, "lambda", "us-east-1").add_auth(request)
    return httpx.request(method, aws.approvals_url + path, content=data, headers=dict(request.headers.items()))


def decide(
    aws: LocalAws, who: LocalIdentity, release_id: str, decision: str, comment: str | None = None
) -> httpx.Response:
    return call(
        aws,
        who,
        "POST",
        "/decisions",
        {"release_id": release_id, "stage": "prod", "decision": decision, "comment": comment},
    )


def start(aws: LocalAws, upstream: UpstreamSimulator, template: str, number: int) -> tuple[PublishedRelease, str]:
    release = upstream.publish_release(template, channel="1-20", number=number)
    return release, aws.start_adoption(workflow_input(release))


def await_gate(aws: LocalAws, release_id: str, execution_arn: str) -> None:
    approvals = DynamoDbApprovalStore(aws.approvals_table)

    def ready() -> bool:
        gate = approvals.get(release_id, "prod")
        if gate is None and aws.describe(execution_arn)["status"] != "RUNNING":
            raise AssertionError(f"execution ended before its gate opened: {aws.describe(execution_arn)}")
        return gate is not None and gate.status is ApprovalStatus.PENDING

    aws.wait_until(ready, timeout=60, what=f"the approval gate of {release_id}")


def cli(aws: LocalAws, who: LocalIdentity, args: list[str]) -> Any:
    """Run ``eksd-adopt`` as ``who`` (its keys in the environment, as the CLI reads them)."""
    from eksd_adopt.cli.main import app

    env = {
        "AWS_ACCESS_KEY_ID": who.access_key,
        "AWS_SECRET_ACCESS_KEY": who.secret_key,
        "EKSD_ADOPT_APPROVALS_URL": aws.approvals_url,
    }
    with aws.env(**env):
        return CliRunner().invoke(app, args)


def pointer(aws: LocalAws) -> dict[str, Any] | None:
    """The prod pointer of channel 1-20, None before anything was promoted (tests may run in any order)."""
    ssm = aws.client("ssm")
    try:
        return dict(json.loads(ssm.get_parameter(Name="/eksd-adopt/prod/1-20")["Parameter"]["Value"]))
    except ssm.exceptions.ParameterNotFound:
        return None


@pytest.fixture(scope="module")
def people(aws: LocalAws) -> dict[str, LocalIdentity]:
    session = APPROVER_A.replace(":iam::", ":sts::").replace(":role/", ":assumed-role/")
    return {
        "alice": aws.add_identity(f"{session}/alice"),
        # The same role assumed again under names its caller picked: alice on her laptop, or "carol".
        "alice-laptop": aws.add_identity(f"{session}/alice-laptop"),
        "carol": aws.add_identity(f"{session}/carol"),
        "bob": aws.add_identity(APPROVER_B),
        "mallory": aws.add_identity(OUTSIDER),
    }


def test_happy_path_waits_for_approval_then_promotes(
    aws: LocalAws,
    upstream: UpstreamSimulator,
    template: str,
    registries: tuple[Registry, Registry],
    people: dict[str, LocalIdentity],
) -> None:
    queue = aws.subscribe_queue(aws.approvers_topic_arn, "approvers-happy")
    release, arn = start(aws, upstream, template, 1)
    await_gate(aws, release.release_id, arn)
    ledger = DynamoDbLedger(aws.ledger_table)
    assert ledger.get(release.release_id).status is ReleaseStatus.AWAITING_APPROVAL
    (message,) = aws.drain(queue)
    assert "1-20-1" in message and "v1.20.4" in message and "Added: kubernetes" in message
    assert "task_token" not in message and "Token" not in message  # the token never goes to people

    response = decide(aws, people["alice"], release.release_id, "approve", "looks good")
    assert response.status_code == 200, response.text
    final = aws.wait_for_execution(arn)
    assert final["status"] == "SUCCEEDED", final

    current = pointer(aws)
    assert current is not None and current["release_id"] == "1-20-1"
    promoted = yaml.safe_load(
        aws.client("s3").get_object(Bucket=aws.bucket, Key=current["manifest_location"].split("/", 3)[3])["Body"].read()
    )
    _, target = registries
    images = [a for c in promoted["status"]["components"] for a in c["assets"] if a["type"] == "Image"]
    assert images
    for uri, digest in release.images.items():
        tag = uri.rsplit(":", 1)[1]
        repository = "eksd/prod/" + uri.split("/", 1)[1].rsplit(":", 1)[0]
        head = httpx.head(
            f"{target.url}/v2/{repository}/manifests/{tag}",
            headers={"Accept": "application/vnd.oci.image.index.v1+json"},
        )
        assert head.headers["docker-content-digest"] == digest  # the prod repository holds the very same index
        assert any(i["image"]["uri"] == f"{target.url.split('://')[1]}/{repository}@{digest}" for i in images)
    archives = [
        a["archive"]["uri"] for c in promoted["status"]["components"] for a in c["assets"] if a["type"] == "Archive"
    ]
    assert archives and all(u.startswith(f"s3://{aws.bucket}/eksd/prod/kubernetes-1-20/releases/1/") for u in archives)
    record = ledger.get(release.release_id)
    assert record.status is ReleaseStatus.PROMOTED and "prod" in record.promoted_stages
    assert [(d.approver, d.decision, d.comment) for d in record.decisions] == [
        (people["alice"].principal_arn, "approve", "looks good")
    ]


@pytest.mark.reliability(
    area="approvals",
    fault="a rejection (and one without a reason)",
    expected="reason required (400); rejected: execution fails ReleaseRejected, nothing promoted, pointer unchanged",
)
def test_reject_ends_rejected_and_promotes_nothing(
    aws: LocalAws, upstream: UpstreamSimulator, template: str, people: dict[str, LocalIdentity]
) -> None:
    release, arn = start(aws, upstream, template, 2)
    await_gate(aws, release.release_id, arn)
    before = pointer(aws)
    assert decide(aws, people["bob"], release.release_id, "reject", None).status_code == 400  # a reason is required
    response = decide(aws, people["bob"], release.release_id, "reject", "CVE in etcd")
    assert response.status_code == 200, response.text
    final = aws.wait_for_execution(arn)
    assert (final["status"], final.get("error")) == ("FAILED", "ReleaseRejected")
    assert "CVE in etcd" in final["cause"]
    record = DynamoDbLedger(aws.ledger_table).get(release.release_id)
    assert record.status is ReleaseStatus.REJECTED and "prod" not in record.promoted_stages
    assert pointer(aws) == before
    assert DynamoDbApprovalStore(aws.approvals_table).get(release.release_id, "prod").status is ApprovalStatus.REJECTED


@pytest.mark.reliability(
    area="approvals",
    fault="nobody decides before the gate's timeout; a late approval",
    expected="execution fails ApprovalExpired, ledger expired; the late approval refused (409)",
)
def test_gate_expires(
    aws: LocalAws, upstream: UpstreamSimulator, template: str, people: dict[str, LocalIdentity]
) -> None:
    short = aws.create_state_machine("eksd-adopt-release-short-gate", ApprovalTimeoutSeconds=str(SHORT_TIMEOUT))
    release = upstream.publish_release(template, channel="1-20", number=3)
    arn = aws.start_adoption(workflow_input(release), short)
    await_gate(aws, release.release_id, arn)
    final = aws.wait_for_execution(arn, timeout=SHORT_TIMEOUT + 30)
    assert (final["status"], final.get("error")) == ("FAILED", "ApprovalExpired")
    assert DynamoDbLedger(aws.ledger_table).get(release.release_id).status is ReleaseStatus.EXPIRED
    assert decide(aws, people["alice"], release.release_id, "approve").status_code == 409  # too late


@pytest.mark.reliability(
    area="workflow",
    fault="an upstream layer blob tampered after publication",
    expected="mirror fails verification, adoption failed, no gate opened, nothing in prod",
)
def test_tampered_blob_fails_the_mirror_and_nothing_is_promoted(
    aws: LocalAws, upstream: UpstreamSimulator, template: str, registries: tuple[Registry, Registry]
) -> None:
    upstream_registry, target = registries
    release = upstream.publish_release(template, channel="1-20", number=4)
    uri, digest = next(iter(release.images.items()))
    repository = uri.split("/", 1)[1].rsplit(":", 1)[0]
    blob = upstream_registry.blob_path(upstream_registry.layer_digests(repository, digest)[0])
    blob.write_bytes(b"tampered" + blob.read_bytes()[8:])
    arn = aws.start_adoption(workflow_input(release))
    final = aws.wait_for_execution(arn)
    assert (final["status"], final.get("error")) == ("FAILED", "AdoptionFailed")
    assert "BlobVerificationError" in final["cause"] or "DigestMismatch" in final["cause"]
    record = DynamoDbLedger(aws.ledger_table).get(release.release_id)
    assert record.status is ReleaseStatus.FAILED and record.failure_cause
    assert DynamoDbApprovalStore(aws.approvals_table).get(release.release_id, "prod") is None
    tag = uri.rsplit(":", 1)[1]
    assert httpx.head(f"{target.url}/v2/eksd/prod/{repository}/manifests/{tag}").status_code == 404


@pytest.mark.reliability(
    area="approvals",
    fault="a non-approver approves; an approver forged in the body; one approver twice",
    expected="403, 403, 409; the gate opens only with two distinct approvers",
)
def test_two_distinct_approvers_required_and_outsiders_refused(
    aws: LocalAws, upstream: UpstreamSimulator, template: str, people: dict[str, LocalIdentity]
) -> None:
    rules = {"prod": {"approvers": [APPROVER_A, APPROVER_B], "required_approvals": 2}}
    with aws.env(STAGE_RULES=json.dumps(rules)):
        release, arn = start(aws, upstream, template, 5)
        await_gate(aws, release.release_id, arn)
        refused = decide(aws, people["mallory"], release.release_id, "approve")
        assert refused.status_code == 403 and "not an approver" in refused.json()["error"]
        forged = call(
            aws,
            people["mallory"],
            "POST",
            "/decisions",
            {"release_id": release.release_id, "stage": "prod", "decision": "approve", "approver": APPROVER_B},
        )
        assert forged.status_code == 403  # who decides comes from the signature, never the body
        first = decide(aws, people["alice"], release.release_id, "approve")
        assert first.json()["status"] == "pending" and first.json()["approvals"] == 1
        assert decide(aws, people["alice"], release.release_id, "approve").status_code == 409  # once per approver
        listed = cli(aws, people["bob"], ["approvals", "list"])
        assert listed.exit_code == 0, listed.output
        assert f"{release.release_id} stage prod" in listed.output and "1/2 approvals" in listed.output
        assert aws.describe(arn)["status"] == "RUNNING"
        second = decide(aws, people["bob"], release.release_id, "approve")
        assert second.json()["status"] == "approved", second.text
        assert aws.wait_for_execution(arn)["status"] == "SUCCEEDED"
    decisions = DynamoDbLedger(aws.ledger_table).get(release.release_id).decisions
    assert {d.approver for d in decisions} == {people["alice"].principal_arn, APPROVER_B}


@pytest.mark.reliability(
    area="approvals",
    fault="one person approves a two-approver gate twice, from two sessions of one role",
    expected="the second session is refused (409, counted as the role); the gate stays open until a second approver",
)
def test_sessions_of_one_role_count_once(
    aws: LocalAws, upstream: UpstreamSimulator, template: str, people: dict[str, LocalIdentity]
) -> None:
    rules = {"prod": {"approvers": [APPROVER_A, APPROVER_B], "required_approvals": 2}}
    with aws.env(STAGE_RULES=json.dumps(rules)):
        release, arn = start(aws, upstream, template, 10)
        await_gate(aws, release.release_id, arn)
        first = decide(aws, people["alice"], release.release_id, "approve")
        assert first.status_code == 200 and first.json()["status"] == "pending", first.text
        for other in ("alice-laptop", "carol"):
            again = decide(aws, people[other], release.release_id, "approve")
            assert again.status_code == 409 and f"counts as {APPROVER_A}" in again.json()["error"], again.text
        assert first.json()["counted_as"] == APPROVER_A
        assert aws.describe(arn)["status"] == "RUNNING"
        assert (
            DynamoDbApprovalStore(aws.approvals_table).get(release.release_id, "prod").status is ApprovalStatus.PENDING
        )
        assert decide(aws, people["bob"], release.release_id, "approve").json()["status"] == "approved"
        assert aws.wait_for_execution(arn)["status"] == "SUCCEEDED"


@pytest.mark.reliability(
    area="approvals",
    fault="two sessions of a role whose sessions are distinct people (approverSessionRoles) approve",
    expected="each session counts: the two-approver gate opens",
)
def test_sessions_of_a_role_whose_sessions_are_people_count_each(
    aws: LocalAws, upstream: UpstreamSimulator, template: str, people: dict[str, LocalIdentity]
) -> None:
    rules = {"prod": {"approvers": [APPROVER_A], "required_approvals": 2}}
    with aws.env(STAGE_RULES=json.dumps(rules), APPROVER_SESSION_ROLES=APPROVER_A):
        release, arn = start(aws, upstream, template, 11)
        await_gate(aws, release.release_id, arn)
        first = decide(aws, people["alice"], release.release_id, "approve")
        assert first.json()["counted_as"] == people["alice"].principal_arn and first.json()["status"] == "pending"
        assert decide(aws, people["alice"], release.release_id, "approve").status_code == 409  # a session once
        second = decide(aws, people["carol"], release.release_id, "approve")
        assert second.json()["status"] == "approved", second.text
        assert aws.wait_for_execution(arn)["status"] == "SUCCEEDED"


@pytest.mark.reliability(
    area="approvals",
    fault="unsigned request; request signed with a wrong secret",
    expected="403 before the handler runs",
)
def test_unsigned_or_badly_signed_requests_are_refused(aws: LocalAws, people: dict[str, LocalIdentity]) -> None:
    assert httpx.get(aws.approvals_url + "/approvals").status_code == 403
    forged = LocalIdentity(people["alice"].principal_arn, people["alice"].access_key, "not-the-secret")
    assert call(aws, forged, "GET", "/approvals").status_code == 403


def test_rollback_repoints_to_an_earlier_promoted_release(
    aws: LocalAws, upstream: UpstreamSimulator, template: str, people: dict[str, LocalIdentity]
) -> None:
    for number in (6, 7):
        release, arn = start(aws, upstream, template, number)
        await_gate(aws, release.release_id, arn)
        assert decide(aws, people["bob"], release.release_id, "approve").status_code == 200
        assert aws.wait_for_execution(arn)["status"] == "SUCCEEDED"
    assert (pointer(aws) or {}).get("release_id") == "1-20-7"
    events = aws.subscribe_queue(aws.events_topic_arn, "events-rollback")
    refused = cli(aws, people["bob"], ["rollback", "--stage", "prod", "--channel", "1-20", "--to", "2"])
    assert refused.exit_code == 1 and "never promoted" in refused.output
    outsider = cli(aws, people["mallory"], ["rollback", "--stage", "prod", "--channel", "1-20", "--to", "6"])
    assert outsider.exit_code == 1 and "not an approver" in outsider.output
    result = cli(aws, people["bob"], ["rollback", "--stage", "prod", "--channel", "1-20", "--to", "6"])
    assert result.exit_code == 0, result.output
    after = pointer(aws)
    assert after is not None and after["release_id"] == "1-20-6"
    assert after["manifest_location"].endswith("eksd/prod/kubernetes-1-20/kubernetes-1-20-eks-6.yaml")
    kinds = [json.loads(body)["event_type"] for body in aws.drain(events)]
    assert "release.rolled_back" in kinds


@pytest.mark.reliability(
    area="workflow",
    fault="the team-supplied test step reports failure",
    expected="adoption fails, nothing promoted",
)
def test_team_test_step_is_called_back_and_its_failure_stops_the_adoption(
    aws: LocalAws, upstream: UpstreamSimulator, template: str
) -> None:
    import threading

    calls: list[dict[str, Any]] = []

    def team_tests(event: dict[str, Any], context: Any) -> dict[str, Any]:
        # A team's step answers later, through the callback API, as a real one would from its own runner.
        calls.append(event)
        verdict = "pass" if event["release"]["number"] == 8 else "fail"

        def answer() -> None:
            sfn = aws.client("stepfunctions")
            if verdict == "pass":
                sfn.send_task_success(
                    taskToken=event["task_token"], output=json.dumps({"suite": "conformance", "ok": True})
                )
            else:
                sfn.send_task_failure(
                    taskToken=event["task_token"], error="TeamTestsFailed", cause="conformance: 3 failed"
                )

        threading.Timer(0.5, answer).start()
        return {"accepted": True}

    arn = aws.register_function("team_tests", team_tests)
    machine = aws.create_state_machine("eksd-adopt-release-team-tests", TeamTestArn=arn)
    passing = upstream.publish_release(template, channel="1-20", number=8)
    execution = aws.start_adoption(workflow_input(passing), machine)
    await_gate(aws, passing.release_id, execution)
    gate = DynamoDbApprovalStore(aws.approvals_table).get(passing.release_id, "prod")
    assert gate.summary["tests"]["team"] == {"suite": "conformance", "ok": True}
    assert calls[0]["staged_manifest_location"].endswith("eksd/staging/kubernetes-1-20/kubernetes-1-20-eks-8.yaml")

    failing = upstream.publish_release(template, channel="1-20", number=9)
    final = aws.wait_for_execution(aws.start_adoption(workflow_input(failing), machine))
    assert (final["status"], final.get("error")) == ("FAILED", "AdoptionFailed")
    assert "TeamTestsFailed" in final["cause"]
    assert DynamoDbLedger(aws.ledger_table).get(failing.release_id).status is ReleaseStatus.FAILED
    assert DynamoDbApprovalStore(aws.approvals_table).get(failing.release_id, "prod") is None
