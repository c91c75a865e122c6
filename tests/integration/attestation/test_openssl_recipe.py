"""The consumer's recipe in docs/attestation.md, run exactly as written: openssl, jq and coreutils, no code of ours."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from eksd_adopt.attestation import dsse
from eksd_adopt.attestation.kms import KmsPublicKey, KmsSigner
from tests.conftest import REPO_ROOT
from tests.unit.attestation.support import make_statement

DOC = REPO_ROOT / "docs" / "attestation.md"
pytestmark = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("openssl", "jq", "base64", "bash")), reason="openssl, jq or bash missing"
)


def recipe() -> str:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(r"<!-- openssl-recipe -->\n```sh\n(?P<body>.*?)\n```\n<!-- /openssl-recipe -->", text, re.DOTALL)
    assert match, "docs/attestation.md lost its openssl recipe block"
    return match["body"]


@pytest.fixture
def signed(kms_as_aws: None, tmp_path: Path) -> Iterator[tuple[Path, bytes]]:
    """A release-sized record signed through (local) KMS, and its public key, in a folder as a consumer has them."""
    with mock_aws():
        kms = boto3.client("kms", region_name="us-east-1")
        key_id = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
        statement = make_statement(images=17, archives=45)
        line = dsse.sign(statement.payload(), KmsSigner(key_id, client=kms)).to_json()
        (tmp_path / "pub.pem").write_bytes(dsse.public_key_pem(KmsPublicKey(key_id, client=kms).load()))
    (tmp_path / "record.intoto.jsonl").write_bytes(line + b"\n")
    yield tmp_path, statement.payload()


def run(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", recipe()],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_documented_openssl_recipe_verifies_a_kms_signed_record(signed: tuple[Path, bytes]) -> None:
    folder, payload = signed
    assert len(dsse.pae(dsse.PAYLOAD_TYPE, payload)) > 4096  # the DIGEST path: what a real release takes
    result = run(folder)
    assert result.returncode == 0, result.stderr
    assert "Verified OK" in result.stdout
    assert (folder / "payload.json").read_bytes() == payload
    listed = [line for line in result.stdout.splitlines() if re.fullmatch(r"[0-9a-f]{64}  \S+", line)]
    assert len(listed) == 17 + 45 + 1


def _rewrite(folder: Path, change: Any) -> None:
    envelope = json.loads((folder / "record.intoto.jsonl").read_bytes())
    change(envelope)
    (folder / "record.intoto.jsonl").write_text(json.dumps(envelope) + "\n")


@pytest.mark.reliability(
    area="attestation",
    fault="the documented openssl recipe run on a record with one payload byte or one signature bit changed",
    expected="openssl prints Verification failure and the recipe exits non-zero",
)
@pytest.mark.parametrize("what", ["payload", "signature"])
def test_the_recipe_refuses_a_tampered_record(signed: tuple[Path, bytes], what: str, observed: Any) -> None:
    folder, payload = signed

    def change(envelope: dict[str, Any]) -> None:
        if what == "payload":
            forged = payload.replace(b'"kind":"promotion"', b'"kind":"promotiom"')
            assert forged != payload
            envelope["payload"] = base64.b64encode(forged).decode()
        else:
            signature = bytearray(base64.b64decode(envelope["signatures"][0]["sig"]))
            signature[-1] ^= 0x01
            envelope["signatures"][0]["sig"] = base64.b64encode(bytes(signature)).decode()

    _rewrite(folder, change)
    result = run(folder)
    assert result.returncode != 0
    assert "Verification failure" in result.stdout + result.stderr
    observed(f"openssl: Verification failure, exit {result.returncode}")
