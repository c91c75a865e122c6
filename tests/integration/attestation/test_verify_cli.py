"""``eksd-adopt verify`` on a 1-20-eks-1-shaped promoted release: a real docker-registry, S3/SSM/KMS in moto.

Every tampering a consumer must catch is made for real where the artifact lives (a stage tag moved in
the registry, an object replaced in the bucket, the record rewritten) and must make ``verify`` exit 1
naming it; usage errors exit 2.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from moto import mock_aws
from typer.testing import CliRunner, Result

from eksd_adopt.attestation import dsse
from eksd_adopt.attestation.aws import POINTER_PARAMETER
from eksd_adopt.cli.main import app
from eksd_adopt.images.client import RegistryClient
from eksd_adopt.local.images import publish_image
from eksd_adopt.local.kms import enforce_kms_message_types
from eksd_adopt.local.registry import LocalRegistry
from eksd_adopt.workflow.promotion import parameter_name
from tests.integration.attestation.support import PromotedRelease, promote_release

REGION = "us-east-1"


@pytest.fixture(scope="module")
def aws() -> Iterator[dict[str, Any]]:
    undo = enforce_kms_message_types()
    with pytest.MonkeyPatch.context() as patch, mock_aws():
        patch.setenv("AWS_DEFAULT_REGION", REGION)
        patch.delenv("AWS_ENDPOINT_URL", raising=False)
        yield {name: boto3.client(name, region_name=REGION) for name in ("s3", "ssm", "kms")}  # type: ignore[call-overload]
    undo()


@pytest.fixture(scope="module")
def promoted(private: LocalRegistry, aws: dict[str, Any]) -> PromotedRelease:
    return promote_release(private.url, private.host, bucket="eksd-artifacts", **aws)


def run(promoted: PromotedRelease, *extra: str, key: bool = True, json_out: bool = False) -> Result:
    """The command as a consumer types it (``json_out``: with --json, whose lines the table does not fold)."""
    args = [
        "verify",
        *(["--json"] if json_out else []),
        "--stage",
        promoted.stage,
        "--bucket",
        promoted.bucket,
        "--prefix",
        promoted.prefix,
    ]
    args += ["--registry", promoted.registry_url]
    if key:
        args += ["--kms-key", promoted.kms_key]
    if not any(a in ("--channel", "--release") for a in extra):
        args += ["--channel", promoted.channel]
    return CliRunner().invoke(app, [*args, *extra])


def _failures(result: Result) -> list[dict[str, Any]]:
    assert result.exit_code == 1, result.output
    return [c for c in json.loads(result.output)["checks"] if c["outcome"] != "ok"]


def test_the_pointer_names_the_parameter_promotion_moves() -> None:
    assert POINTER_PARAMETER.format(stage="prod", channel="1-30") == parameter_name("prod", "1-30")


def test_a_promoted_release_verifies(promoted: PromotedRelease) -> None:
    result = run(promoted)
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())  # the terminal's width folds lines anywhere
    assert "verified: 1-20-1 in prod (promotion, 2026-03-04 05:06:07Z" in said
    assert "45 archives" in said and "17 images" in said and "1 manifest" in said


def test_json_names_every_subject(promoted: PromotedRelease) -> None:
    result = run(promoted, "--json", "--deep")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ok"] is True and report["deep"] is True and report["record_key"] == promoted.record_key
    kinds = [c["kind"] for c in report["checks"]]
    assert kinds.count("image") == 17 and kinds.count("archive") == 45 and kinds.count("manifest") == 1
    assert {c["outcome"] for c in report["checks"]} == {"ok"}


def test_a_release_id_verifies_its_newest_record(promoted: PromotedRelease) -> None:
    result = run(promoted, "--release", promoted.release_id)
    assert result.exit_code == 0, result.output


def test_offline_with_the_published_public_key(promoted: PromotedRelease, aws: dict[str, Any], tmp_path: Path) -> None:
    pem = aws["s3"].get_object(Bucket=promoted.bucket, Key=promoted.public_key_key)["Body"].read()
    (tmp_path / "pub.pem").write_bytes(pem)
    result = run(promoted, "--public-key", str(tmp_path / "pub.pem"), key=False)
    assert result.exit_code == 0, result.output
    other = dsse.public_key_pem(ec.generate_private_key(ec.SECP256R1()).public_key())
    (tmp_path / "other.pem").write_bytes(other)
    result = run(promoted, "--public-key", str(tmp_path / "other.pem"), key=False, json_out=True)
    assert result.exit_code == 1 and "no signature of the envelope verifies" in result.output


@pytest.mark.reliability(
    area="attestation",
    fault="a promoted image's stage tag moved to another image in the registry after the record was made",
    expected="eksd-adopt verify exits 1 naming the image, its tag, the digest found and the digest recorded",
)
def test_an_image_retagged_in_the_registry_fails_verification_naming_it(
    promoted: PromotedRelease, private: LocalRegistry, observed: Any
) -> None:
    image = promoted.statement.predicate.images[3]
    repository = promoted.image_repository(3)
    client = RegistryClient(private.url)
    original = client.get_manifest(repository, image.digest)
    impostor = publish_image(private.url, repository, image.tag, layer_sizes=(99,), seed="impostor")
    try:
        result = run(promoted)
        assert result.exit_code == 1, result.output
        assert "not verified: 1 of 65 checks failed: image" in " ".join(result.output.split())
        (failure,) = _failures(run(promoted, json_out=True))
        assert failure["name"] == f"{image.name}:{image.tag}" and failure["outcome"] == "mismatch"
        assert impostor in failure["detail"] and image.digest in failure["detail"]
        observed(f"exit 1: image {repository.rsplit('/', 1)[-1]} mismatch, {impostor[:19]}... found")
    finally:
        client.put_manifest(repository, image.tag, original)
    assert run(promoted).exit_code == 0


@pytest.mark.reliability(
    area="attestation",
    fault="a promoted archive replaced in the bucket (new bytes with their own checksums as metadata; or new bytes under the old metadata)",
    expected="verify exits 1 naming the object key (the second only with --deep, which re-hashes the bytes)",
)
def test_an_archive_replaced_in_the_bucket_fails_verification_naming_it(
    promoted: PromotedRelease, aws: dict[str, Any], observed: Any
) -> None:
    import hashlib

    s3 = aws["s3"]
    archive = promoted.statement.predicate.archives[7]
    original = s3.get_object(Bucket=promoted.bucket, Key=archive.key)
    body, metadata = original["Body"].read(), original["Metadata"]
    forged = b"a kubelet with a backdoor"
    try:
        s3.put_object(
            Bucket=promoted.bucket,
            Key=archive.key,
            Body=forged,
            Metadata={"sha256": hashlib.sha256(forged).hexdigest(), "sha512": hashlib.sha512(forged).hexdigest()},
        )
        (failure,) = _failures(run(promoted, json_out=True))
        assert failure["name"] == archive.key and "in its metadata" in failure["detail"]
        s3.put_object(Bucket=promoted.bucket, Key=archive.key, Body=forged, Metadata=metadata)
        assert run(promoted).exit_code == 0  # the metadata still says what the record says
        (failure,) = _failures(run(promoted, "--deep", json_out=True))
        assert failure["name"] == archive.key and "in its bytes" in failure["detail"]
        observed("exit 1 naming the key; the old-metadata forgery caught by --deep only")
    finally:
        s3.put_object(Bucket=promoted.bucket, Key=archive.key, Body=body, Metadata=metadata)


def _rewrite_record(promoted: PromotedRelease, s3: Any, change: Any) -> bytes:
    original: bytes = s3.get_object(Bucket=promoted.bucket, Key=promoted.record_key)["Body"].read()
    envelope = json.loads(original)
    payload = json.loads(base64.b64decode(envelope["payload"]))
    change(payload, envelope)
    envelope["payload"] = base64.b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()
    s3.put_object(Bucket=promoted.bucket, Key=promoted.record_key, Body=json.dumps(envelope).encode() + b"\n")
    return original


@pytest.mark.reliability(
    area="attestation",
    fault="the stored record rewritten: one subject digest changed to a forged archive's, or the signature swapped",
    expected="verify exits 1 on the record (the signature does not verify); no subject is reported as verified",
)
@pytest.mark.parametrize("what", ["subject digest", "signature"])
def test_a_rewritten_record_fails_verification(
    promoted: PromotedRelease, aws: dict[str, Any], what: str, observed: Any
) -> None:
    def change(payload: dict[str, Any], envelope: dict[str, Any]) -> None:
        if what == "subject digest":
            payload["subject"][0]["digest"]["sha256"] = "0" * 64
        else:
            other = ec.generate_private_key(ec.SECP256R1())
            from cryptography.hazmat.primitives import hashes

            body = base64.b64decode(envelope["payload"])
            envelope["signatures"][0]["sig"] = base64.b64encode(
                other.sign(dsse.pae(envelope["payloadType"], body), ec.ECDSA(hashes.SHA256()))
            ).decode()

    s3 = aws["s3"]
    original = _rewrite_record(promoted, s3, change)
    try:
        result = run(promoted, json_out=True)
        assert result.exit_code == 1
        report = json.loads(result.output)
        assert [(c["kind"], c["outcome"]) for c in report["checks"]] == [("record", "mismatch")]
        observed(f"exit 1: {report['checks'][0]['detail'][:70]}")
    finally:
        s3.put_object(Bucket=promoted.bucket, Key=promoted.record_key, Body=original)


def test_a_pointer_at_a_release_without_a_record_fails(promoted: PromotedRelease, aws: dict[str, Any]) -> None:
    ssm = aws["ssm"]
    name = POINTER_PARAMETER.format(stage=promoted.stage, channel=promoted.channel)
    original = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    moved = {**json.loads(original), "release_id": "1-20-2"}
    ssm.put_parameter(Name=name, Value=json.dumps(moved), Type="String", Overwrite=True)
    try:
        (failure,) = _failures(run(promoted, json_out=True))
        assert failure["kind"] == "record" and "no adoption record of 1-20-2 in stage prod" in failure["detail"]
    finally:
        ssm.put_parameter(Name=name, Value=original, Type="String", Overwrite=True)
    (failure,) = _failures(run(promoted, "--stage", "staging", json_out=True))
    assert failure["kind"] == "pointer" and failure["detail"] == "the stage has no release of this channel"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--release", "1-20-1", "--channel", "1-20"], "name what to verify"),
        (["--release", "1-20-\u0661"], "is not a release id"),
        (["--channel", "1-20", "--stage", "../prod"], "is not a stage name"),
        (["--channel", "1-20\n"], "is not a release channel"),
        (["--public-key", "/nonexistent/pub.pem"], "cannot read"),
    ],
)
def test_usage_errors_exit_2(promoted: PromotedRelease, args: list[str], message: str) -> None:
    result = run(promoted, *args, key="--public-key" not in args)
    assert result.exit_code == 2, result.output
    assert message in result.output.replace("\n", "")


def test_no_key_is_a_usage_error(promoted: PromotedRelease, tmp_path: Path) -> None:
    result = run(promoted, key=False)
    assert result.exit_code == 2 and "--kms-key" in result.output
    (tmp_path / "garbage.pem").write_bytes(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    result = run(promoted, "--public-key", str(tmp_path / "garbage.pem"), key=False)
    # The error line folds at the console's width, at a space (dropped) or inside the long path:
    # compare without any whitespace, or the test depends on how long pytest's tmp_path is.
    assert result.exit_code == 2 and "garbage.pem:notaPEMorDER" in "".join(result.output.split())
