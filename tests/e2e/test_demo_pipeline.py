"""End to end: the demo's path (notification → intake → workflow → approval CLI → promoted → events),
on the full kubernetes-1-20-eks-1 shape with small bytes, checked independently of our own code:
skopeo reads the private registry, hashlib re-hashes what moto S3 holds, SSM and the subscriber
queue are read back directly.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from eksd_adopt.local.demo import LocalStack, local_stack, run_adoption
from tests.conftest import TESTDATA
from tests.iam_coverage import CallRecorder, approver_requests, assert_calls_allowed

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("e2e")]
SKOPEO = shutil.which("skopeo") or "/usr/bin/skopeo"


@pytest.fixture(scope="module")
def aws_calls() -> Iterator[CallRecorder]:
    """Every AWS call the functions make during the adoption (checked against their roles below)."""
    with CallRecorder() as recorder:
        yield recorder


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, aws_calls: CallRecorder) -> Iterator[LocalStack]:
    template = (TESTDATA / "kubernetes-1-20-eks-1.yaml").read_text()
    with local_stack(template, tmp_path_factory.mktemp("demo"), archive_size=256, layer_sizes=(512, 1024)) as running:
        yield running


@pytest.fixture(scope="module")
def report(stack: LocalStack):  # type: ignore[no-untyped-def]
    return run_adoption(stack, timeout=240)


def _skopeo_digest(stack: LocalStack, repository: str, tag: str) -> str:
    raw = subprocess.run(
        [
            SKOPEO,
            "inspect",
            "--raw",
            "--tls-verify=false",
            f"docker://{stack.private_registry.host}/{repository}:{tag}",
        ],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def test_release_is_promoted_through_the_real_path(report) -> None:  # type: ignore[no-untyped-def]
    assert report.release_id == "1-20-1"
    assert report.status == "promoted"
    assert report.tally.images == 17
    assert report.tally.archives == 45
    assert report.notification_to_promoted is not None


def test_shared_layers_are_mounted_or_skipped_not_sent_again(report) -> None:  # type: ignore[no-untyped-def]
    tally = report.tally
    # Each image is its own mirror invocation, so a base layer is uploaded into each repository once.
    assert tally.blobs_uploaded > 0 and tally.image_bytes > 0
    # Promotion moves no bytes: every distinct blob of an image is mounted from staging through the
    # ECR front (blob mounting on, as the stack sets it); a layer both platforms share (LICENSES,
    # ATTRIBUTION.txt) is one blob of the image, mounted once.
    assert tally.promoted_images == 17
    assert tally.promoted_mounted > 0 and tally.promoted_skipped == 0


def test_private_registry_holds_upstream_digests_in_staging_and_prod(stack: LocalStack, report) -> None:  # type: ignore[no-untyped-def]
    manifest = Path(stack.cdn.root / "kubernetes-1-20" / "kubernetes-1-20-eks-1.yaml").read_text()
    document = yaml.safe_load(manifest)
    images = [a["image"] for c in document["status"]["components"] for a in c["assets"] if a["type"] == "Image"]
    assert len(images) == 17
    for image in images[:6]:  # skopeo per image costs ~0.3 s; six of seventeen, both stages
        repository, _, tag = image["uri"].split("/", 1)[1].rpartition(":")
        for stage in ("staging", "prod"):
            assert _skopeo_digest(stack, f"eksd/{stage}/{repository}", tag) == image["imageDigest"]


def test_bucket_objects_match_the_manifest_checksums(stack: LocalStack, report) -> None:  # type: ignore[no-untyped-def]
    s3 = stack.runtime.client("s3")
    document = yaml.safe_load((stack.cdn.root / "kubernetes-1-20" / "kubernetes-1-20-eks-1.yaml").read_text())
    archives = [a["archive"] for c in document["status"]["components"] for a in c["assets"] if a["type"] == "Archive"]
    for archive in archives:
        path = archive["uri"].split("/kubernetes-1-20/releases/1/", 1)[1]
        for stage in ("staging", "prod"):
            body = s3.get_object(Bucket=stack.runtime.bucket, Key=f"eksd/{stage}/kubernetes-1-20/releases/1/{path}")[
                "Body"
            ].read()
            assert hashlib.sha256(body).hexdigest() == archive["sha256"]
            assert hashlib.sha512(body).hexdigest() == archive["sha512"]
            # Upstream's checksum files beside every archive, in staging and in the promoted stage.
            key = f"eksd/{stage}/kubernetes-1-20/releases/1/{path}"
            for algorithm in ("sha256", "sha512"):
                text = s3.get_object(Bucket=stack.runtime.bucket, Key=f"{key}.{algorithm}")["Body"].read().decode()
                assert text.split()[0] == archive[algorithm]
                # Upstream keeps one SHA256SUM per artifacts/<project>/<tag>/ folder (binaries below it).
                project, tag = path.split("/")[1:3]
                folder_sum = f"eksd/{stage}/kubernetes-1-20/releases/1/artifacts/{project}/{tag}/{algorithm.upper()}SUM"
                folder_text = s3.get_object(Bucket=stack.runtime.bucket, Key=folder_sum)["Body"].read().decode()
                assert f"{archive[algorithm]}  " in folder_text


def test_ssm_pointer_names_the_promoted_release(stack: LocalStack, report) -> None:  # type: ignore[no-untyped-def]
    value = stack.runtime.client("ssm").get_parameter(Name="/eksd-adopt/prod/1-20")["Parameter"]["Value"]
    pointer = json.loads(value)
    assert pointer["release_id"] == "1-20-1"
    location = pointer["manifest_location"]
    assert location.startswith(f"s3://{stack.runtime.bucket}/eksd/prod/")
    bucket, _, key = location.removeprefix("s3://").partition("/")
    promoted = yaml.safe_load(stack.runtime.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    assets = [a for c in promoted["status"]["components"] for a in c["assets"]]
    # Every URI now points at the private copies of the prod stage: images pinned by digest, archives in the bucket.
    for asset in assets:
        if asset["type"] == "Image":
            assert "/eksd/prod/eks-distro/" in asset["image"]["uri"] and "@sha256:" in asset["image"]["uri"], asset
        else:
            assert f"{stack.runtime.bucket}" in asset["archive"]["uri"] and "/eksd/prod/" in asset["archive"]["uri"], (
                asset
            )


def test_the_demo_ends_with_the_signed_record_verified_by_the_cli_and_by_openssl(stack: LocalStack, report) -> None:  # type: ignore[no-untyped-def]
    record = report.record
    assert record is not None and record.key.startswith("eksd/prod/kubernetes-1-20/kubernetes-1-20-eks-1.promotion.")
    assert record.verify.startswith("verified") and record.openssl == "Verified OK"
    assert report.phases[-1][0] == "signed record verified"
    # Through the ECR front: every promoted index lists its record by the referrers API, and no referrers tag
    # (which ECR's immutable tags could not move for a second record) exists in the registry behind it.
    from eksd_adopt.images.client import RegistryClient
    from eksd_adopt.images.referrers import ListedBy, list_referrers, referrers_tag
    from eksd_adopt.local.ecrfront import LOCAL_CREDENTIALS

    front = RegistryClient(stack.registry_url, credentials=LOCAL_CREDENTIALS)
    behind = RegistryClient(stack.private_registry.url)
    pointer = json.loads(stack.runtime.client("ssm").get_parameter(Name="/eksd-adopt/prod/1-20")["Parameter"]["Value"])
    promoted = yaml.safe_load(
        stack.runtime.client("s3")
        .get_object(Bucket=stack.runtime.bucket, Key=pointer["manifest_location"].split("/", 3)[3])["Body"]
        .read()
    )
    uris = [a["image"]["uri"] for c in promoted["status"]["components"] for a in c["assets"] if a["type"] == "Image"]
    assert uris
    for uri in uris:
        repository, _, digest = uri.split("/", 1)[1].partition("@")
        found, listed_by = list_referrers(front, repository, digest)
        assert listed_by is ListedBy.API and [r.annotations["dev.eksd-adopt.kind"] for r in found] == ["promotion"]
        assert behind.head_manifest(repository, referrers_tag(digest)) is None


def test_subscriber_received_every_step_event(report) -> None:  # type: ignore[no-untyped-def]
    for event in (
        "release.detected",
        "release.mirrored",
        "release.verified",
        "release.tested",
        "release.awaiting_approval",
        "release.approved",
        "release.promoted",
    ):
        assert report.events[event] >= 1, (event, report.events)
    assert "release.failed" not in report.events


E2E_CALLERS = (
    "intake-notification",
    "workflow-validate",
    "archives-mirror",
    "workflow-verify",
    "workflow-smoke-test",
    "workflow-record-tested",
    "findings-scan",
    "approvals-request",
    "approvals-api",
    "workflow-promote",
)


def test_every_aws_call_is_allowed_by_the_iam_policy_of_its_caller(stack: LocalStack, report, aws_calls) -> None:  # type: ignore[no-untyped-def]
    # Each function's calls against its role in the synthesized stack; the approver CLI's signed request
    # against ApproversPolicy. The callers listed must appear: an empty record would prove nothing.
    assert_calls_allowed(
        aws_calls,
        stack.runtime,
        callers=E2E_CALLERS,
    )
    assert list(approver_requests(stack.runtime.invocations))  # the CLI's approval went through the URL


def _signed(stack: LocalStack, method: str, path: str, body: dict[str, object]) -> httpx.Response:
    """A request to the approvers' endpoint signed as the CLI signs it, by the demo's approver."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    url = stack.state.approvals_url + path
    data = json.dumps(body).encode()
    request = AWSRequest(method=method, url=url, data=data, headers={"Content-Type": "application/json"})
    identity = stack.approver
    SigV4Auth(Credentials(identity.access_key, identity.secret_key), "lambda", "us-east-1").add_auth(request)
    return httpx.request(method, url, content=data, headers=dict(request.headers.items()))


def test_a_second_record_of_the_same_images_through_ecr_immutable_tags(stack: LocalStack, report) -> None:  # type: ignore[no-untyped-def]
    """Through the ECR front (immutable tags, referrers API): 1-20-2 promoted, then prod rolled back to 1-20-1.
    The rollback's record is the second referrer of 1-20-1's indexes; listed by the API, no tag moved."""
    from eksd_adopt.images.client import RegistryClient
    from eksd_adopt.images.referrers import ListedBy, list_referrers, referrers_tag
    from eksd_adopt.ledger import ReleaseStatus
    from eksd_adopt.local.ecrfront import LOCAL_CREDENTIALS
    from eksd_adopt.local.explore import announce, publish_release

    ledger = stack.state.ledger()
    release = publish_release(stack.state, number=2)
    announce(stack.state, release)

    def status(wanted: ReleaseStatus) -> bool:
        record = ledger.get("1-20-2")
        assert record is None or record.status not in (ReleaseStatus.FAILED, ReleaseStatus.REJECTED), record
        return record is not None and record.status is wanted

    stack.runtime.wait_until(lambda: status(ReleaseStatus.AWAITING_APPROVAL), timeout=240, what="1-20-2's gate")
    decided = _signed(stack, "POST", "/decisions", {"release_id": "1-20-2", "stage": "prod", "decision": "approve"})
    assert decided.status_code == 200, decided.text
    stack.runtime.wait_until(lambda: status(ReleaseStatus.PROMOTED), timeout=240, what="1-20-2's promotion")

    rolled = _signed(stack, "POST", "/rollbacks", {"stage": "prod", "channel": "1-20", "to": 1})
    assert rolled.status_code == 200, rolled.text
    s3 = stack.runtime.client("s3")
    listed = s3.list_objects_v2(Bucket=stack.runtime.bucket, Prefix="eksd/prod/kubernetes-1-20/kubernetes-1-20-eks-1.")
    kinds = sorted(o["Key"].split(".")[-4] for o in listed["Contents"] if o["Key"].endswith(".intoto.jsonl"))
    assert kinds == ["promotion", "rollback"]
    front = RegistryClient(stack.registry_url, credentials=LOCAL_CREDENTIALS)
    behind = RegistryClient(stack.private_registry.url)
    pointer = json.loads(stack.runtime.client("ssm").get_parameter(Name="/eksd-adopt/prod/1-20")["Parameter"]["Value"])
    assert pointer["release_id"] == "1-20-1"
    manifest = yaml.safe_load(
        s3.get_object(Bucket=stack.runtime.bucket, Key=pointer["manifest_location"].split("/", 3)[3])["Body"].read()
    )
    uris = [a["image"]["uri"] for c in manifest["status"]["components"] for a in c["assets"] if a["type"] == "Image"]
    for uri in uris:
        repository, _, digest = uri.split("/", 1)[1].partition("@")
        found, listed_by = list_referrers(front, repository, digest)
        records = [(r.annotations["dev.eksd-adopt.release-id"], r.annotations["dev.eksd-adopt.kind"]) for r in found]
        assert listed_by is ListedBy.API and ("1-20-1", "promotion") in records and ("1-20-1", "rollback") in records
        assert behind.head_manifest(repository, referrers_tag(digest)) is None
