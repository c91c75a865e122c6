"""The signed adoption record as the workflow writes it: the real ASL on moto, the real promotion and approvals
functions, KMS held to AWS's rules, a real registry. Checked with an independent DSSE verifier (``cryptography``
and the DSSE spec's PAE, none of our attestation code) and with ``eksd-adopt verify``."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from typer.testing import CliRunner, Result

from eksd_adopt.images.client import RegistryClient
from eksd_adopt.images.referrers import list_referrers
from eksd_adopt.local.aws import LocalAws, LocalIdentity
from eksd_adopt.local.images import publish_image
from eksd_adopt.local.upstream import UpstreamSimulator
from tests.integration.workflow.conftest import APPROVER_B, Registry
from tests.integration.workflow.test_adoption import await_gate, call, decide, start

pytestmark = [pytest.mark.xdist_group("workflow"), pytest.mark.slow]

PREDICATE = "https://eksd-adopt.dev/adoption-record/v1"


@pytest.fixture(scope="module")
def bob(aws: LocalAws) -> LocalIdentity:
    return aws.add_identity(APPROVER_B)


def independently_verified(line: bytes, public_pem: bytes) -> dict[str, Any]:
    """The DSSE spec's verification with cryptography alone: PAE, ECDSA P-256 SHA-256; InvalidSignature if not."""
    envelope = json.loads(line)
    payload = base64.b64decode(envelope["payload"], validate=True)
    kind = envelope["payloadType"].encode()
    pae = b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)
    key = serialization.load_pem_public_key(public_pem)
    assert isinstance(key, ec.EllipticCurvePublicKey)
    key.verify(base64.b64decode(envelope["signatures"][0]["sig"]), pae, ec.ECDSA(hashes.SHA256()))
    statement: dict[str, Any] = json.loads(payload)
    return statement


def promote(aws: LocalAws, upstream: UpstreamSimulator, template: str, number: int, who: LocalIdentity) -> str:
    release, arn = start(aws, upstream, template, number)
    await_gate(aws, release.release_id, arn)
    assert decide(aws, who, release.release_id, "approve", f"ship {number}").status_code == 200
    assert aws.wait_for_execution(arn)["status"] == "SUCCEEDED"
    return arn


def records(aws: LocalAws, number: int) -> list[str]:
    listed = aws.client("s3").list_objects_v2(
        Bucket=aws.bucket, Prefix=f"eksd/prod/kubernetes-1-20/kubernetes-1-20-eks-{number}."
    )
    return sorted(o["Key"] for o in listed.get("Contents", []) if o["Key"].endswith(".intoto.jsonl"))


def body(aws: LocalAws, key: str) -> bytes:
    return bytes(aws.client("s3").get_object(Bucket=aws.bucket, Key=key)["Body"].read())


def verify(aws: LocalAws, target: Registry, *args: str) -> Result:
    from eksd_adopt.cli.main import app

    common = ["--stage", "prod", "--bucket", aws.bucket, "--registry", target.url, "--auth", "none"]
    return CliRunner().invoke(app, ["verify", *common, "--kms-key", aws.attestation_key_arn, *args])


def test_promotion_writes_a_signed_record_that_verifies_without_our_code(
    aws: LocalAws,
    upstream: UpstreamSimulator,
    template: str,
    registries: tuple[Registry, Registry],
    bob: LocalIdentity,
) -> None:
    _, target = registries
    events = aws.subscribe_queue(aws.events_topic_arn, "events-record")
    execution = promote(aws, upstream, template, 31, bob)
    (key,) = records(aws, 31)
    assert key.endswith(".intoto.jsonl") and ".promotion." in key
    line = body(aws, key).rstrip(b"\n")
    pem = body(aws, "eksd/attestation/public-key.pem")
    kms_key = aws.client("kms").get_public_key(KeyId=aws.attestation_key_arn)["PublicKey"]
    assert serialization.load_pem_public_key(pem).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == bytes(kms_key)

    statement = independently_verified(line, pem)
    assert statement["_type"] == "https://in-toto.io/Statement/v1" and statement["predicateType"] == PREDICATE
    predicate = statement["predicate"]
    assert predicate["kind"] == "promotion" and predicate["stage"] == "prod"
    assert predicate["workflow_execution"] == execution
    assert predicate["upstream"]["release_id"] == "1-20-31"
    assert [(a["principal"], a["comment"]) for a in predicate["approvals"]] == [(APPROVER_B, "ship 31")]
    assert predicate["verification"]["digests"]["ok"] and predicate["verification"]["smoke_tests"]["ok"]
    subjects = {s["name"]: s["digest"]["sha256"] for s in statement["subject"]}
    images = predicate["images"]
    assert images and all(i["name"].startswith(f"{target.host}/eksd/prod/") for i in images)
    for image in images:
        repository = image["name"].split("/", 1)[1]
        head = httpx.head(
            f"{target.url}/v2/{repository}/manifests/{image['tag']}",
            headers={"Accept": "application/vnd.oci.image.index.v1+json"},
        )
        assert head.headers["docker-content-digest"] == image["digest"] == "sha256:" + subjects[image["name"]]
    assert predicate["stage_manifest"]["key"] == "eksd/prod/kubernetes-1-20/kubernetes-1-20-eks-31.yaml"
    promoted = [json.loads(b) for b in aws.drain(events)]
    (event,) = [e for e in promoted if e["event_type"] == "release.promoted" and e["release_id"] == "1-20-31"]
    assert event["detail"]["record_key"] == key

    # Attached to every promoted index as an OCI referrer (docker-registry 2.8: the referrers tag schema).
    client = RegistryClient(target.url)
    for image in images:
        found, _ = list_referrers(client, image["name"].split("/", 1)[1], image["digest"])
        assert [r.annotations["dev.eksd-adopt.release-id"] for r in found] == ["1-20-31"]

    # One byte of the payload, one subject's digest, the signature: each fails the independent check.
    envelope = json.loads(line)
    payload = bytearray(base64.b64decode(envelope["payload"]))
    payload[len(payload) // 2] ^= 0x01
    forged_subject = json.loads(base64.b64decode(envelope["payload"]))
    digest = forged_subject["subject"][0]["digest"]["sha256"]
    forged_subject["subject"][0]["digest"]["sha256"] = ("0" if digest[0] != "0" else "1") + digest[1:]
    signature = bytearray(base64.b64decode(envelope["signatures"][0]["sig"]))
    signature[-1] ^= 0x01
    for tampered in (
        {**envelope, "payload": base64.b64encode(bytes(payload)).decode()},
        {
            **envelope,
            "payload": base64.b64encode(
                json.dumps(forged_subject, sort_keys=True, separators=(",", ":")).encode()
            ).decode(),
        },
        {**envelope, "signatures": [{**envelope["signatures"][0], "sig": base64.b64encode(bytes(signature)).decode()}]},
    ):
        with pytest.raises(InvalidSignature):
            independently_verified(json.dumps(tampered).encode(), pem)

    # eksd-adopt verify agrees; then an image replaced in the registry under its stage tag fails it, named.
    result = verify(aws, target, "--channel", "1-20")
    assert result.exit_code == 0, result.output
    altered = images[0]
    repository = altered["name"].split("/", 1)[1]
    other = publish_image(target.url, repository, altered["tag"], platforms=("linux/amd64",), seed="tampered")
    assert other != altered["digest"]
    result = verify(aws, target, "--channel", "1-20", "--json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    bad = [c for c in report["checks"] if c["outcome"] != "ok"]
    assert bad and all(c["kind"] == "image" and c["name"].startswith(altered["name"]) for c in bad), bad


def test_rollback_writes_its_own_record_through_the_promotion_function(
    aws: LocalAws, upstream: UpstreamSimulator, template: str, registries: tuple[Registry, Registry], bob: LocalIdentity
) -> None:
    _, target = registries
    promote(aws, upstream, template, 32, bob)
    promote(aws, upstream, template, 33, bob)
    events = aws.subscribe_queue(aws.events_topic_arn, "events-record-rollback")
    before = len([n for n, _ in aws.invocations if n == "eksd-adopt-workflow-promote"])
    response = call(aws, bob, "POST", "/rollbacks", {"stage": "prod", "channel": "1-20", "to": 32})
    assert response.status_code == 200, response.text
    # The approvers' endpoint does not sign: it asked the promotion function, once.
    assert len([n for n, _ in aws.invocations if n == "eksd-adopt-workflow-promote"]) == before + 1
    promotion, rollback = records(aws, 32)[0], records(aws, 32)[-1]
    assert ".promotion." in promotion and ".rollback." in rollback and len(records(aws, 32)) == 2
    statement = independently_verified(body(aws, rollback).rstrip(b"\n"), body(aws, "eksd/attestation/public-key.pem"))
    predicate = statement["predicate"]
    assert predicate["kind"] == "rollback" and predicate["previous_release_id"] == "1-20-33"
    assert predicate["workflow_execution"] is None
    assert [a["principal"] for a in predicate["approvals"]] == [APPROVER_B]
    promoted = independently_verified(body(aws, promotion).rstrip(b"\n"), body(aws, "eksd/attestation/public-key.pem"))
    assert statement["subject"] == promoted["subject"]  # the same artifacts, now current again
    (event,) = [e for e in map(json.loads, aws.drain(events)) if e["event_type"] == "release.rolled_back"]
    assert event["detail"]["record_key"] == rollback
    # The stage points at 32 again, and verify checks the newest record of 32: the rollback's.
    result = verify(aws, target, "--channel", "1-20", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["record_key"] == rollback
    image = predicate["images"][0]
    found, _ = list_referrers(RegistryClient(target.url), image["name"].split("/", 1)[1], image["digest"])
    assert sorted(r.annotations["dev.eksd-adopt.kind"] for r in found) == ["promotion", "rollback"]


@pytest.mark.reliability(
    area="attestation",
    fault="a rollback to a release whose promotion record is gone from the bucket",
    expected="refused (409) naming the missing record; nothing signed, the pointer stays",
)
def test_a_rollback_without_the_targets_promotion_record_is_refused(
    aws: LocalAws, upstream: UpstreamSimulator, template: str, bob: LocalIdentity, observed: object
) -> None:
    promote(aws, upstream, template, 34, bob)
    promote(aws, upstream, template, 35, bob)
    (key,) = records(aws, 34)
    aws.client("s3").delete_object(Bucket=aws.bucket, Key=key)
    response = call(aws, bob, "POST", "/rollbacks", {"stage": "prod", "channel": "1-20", "to": 34})
    assert response.status_code == 409, response.text
    assert "no promotion record of 1-20-34 in stage prod" in response.json()["error"]
    current = json.loads(aws.client("ssm").get_parameter(Name="/eksd-adopt/prod/1-20")["Parameter"]["Value"])
    assert current["release_id"] == "1-20-35" and records(aws, 34) == []
    observed("409: no promotion record of 1-20-34; pointer stays at 1-20-35")  # type: ignore[operator]
