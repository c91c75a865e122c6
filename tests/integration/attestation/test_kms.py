"""Signing through KMS as AWS does it, on moto held to KMS's rules: RAW up to 4096 bytes, DIGEST not hashed again.

Each signature is checked by the independent verifier (cryptography over the DSSE PAE), never by
KMS's own Verify: moto's Verify agrees with moto's Sign even where both are wrong.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.asymmetric import ec
from moto import mock_aws

from eksd_adopt.archives.store import InMemoryArchiveStore
from eksd_adopt.attestation import dsse
from eksd_adopt.attestation import kms as attestation_kms
from eksd_adopt.attestation.errors import AttestationError, SignatureError, SigningError
from eksd_adopt.attestation.kms import KmsPublicKey, KmsSigner
from eksd_adopt.attestation.record import read_record, write_record
from eksd_adopt.attestation.statement import AdoptionStatement
from tests.unit.attestation.support import make_statement

REGION = "us-east-1"


def _key(client: Any, spec: str = "ECC_NIST_P256") -> str:
    return str(client.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"])


@pytest.fixture
def kms(kms_as_aws: None) -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("kms", region_name=REGION)


@pytest.fixture
def moto_as_is() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("kms", region_name=REGION)


def _message_types(client: Any) -> list[str]:
    sent: list[str] = []
    client.meta.events.register(
        "provide-client-params.kms.Sign", lambda params, **_: sent.append(params["MessageType"])
    )
    return sent


def _sizes() -> tuple[AdoptionStatement, AdoptionStatement]:
    small, large = make_statement(images=1, archives=1), make_statement(images=17, archives=45)
    assert len(dsse.pae(dsse.PAYLOAD_TYPE, small.payload())) <= 4096 < len(dsse.pae(dsse.PAYLOAD_TYPE, large.payload()))
    return small, large


def test_get_public_key_is_der_spki_that_cryptography_loads(kms: Any) -> None:
    key_id = _key(kms)
    der = kms.get_public_key(KeyId=key_id)["PublicKey"]
    assert isinstance(dsse.load_public_key(der), ec.EllipticCurvePublicKey)
    assert dsse.public_key_der(KmsPublicKey(key_id, client=kms).load()) == der


@pytest.mark.reliability(
    area="attestation",
    fault="a record of a real release's size (17 images, 45 archives: a PAE of ~50 KB) signed by KMS",
    expected="signed as MessageType=DIGEST of the PAE's SHA-256 (RAW takes at most 4096 bytes); verifies with cryptography",
)
def test_small_and_release_sized_records_verify_with_the_independent_verifier(kms: Any, observed: Any) -> None:
    key_id = _key(kms)
    signer = KmsSigner(key_id, client=kms)
    public_key = KmsPublicKey(key_id, client=kms).load()
    sent = _message_types(kms)
    for statement in _sizes():
        envelope = dsse.sign(statement.payload(), signer)
        assert dsse.verify(envelope, public_key) == statement.payload()
        assert envelope.signatures[0].keyid == dsse.key_fingerprint(public_key)
    assert sent == ["RAW", "DIGEST"]
    observed(f"message types sent: {sent}; both verified by cryptography")


def test_a_record_written_through_kms_reads_back_and_verifies(kms: Any) -> None:
    key_id = _key(kms)
    bucket = InMemoryArchiveStore()
    statement = make_statement()
    stored = write_record(bucket, "eksd", statement, KmsSigner(key_id, client=kms))
    payload = dsse.verify(read_record(bucket, stored.key), KmsPublicKey(key_id, client=kms).load())
    assert AdoptionStatement.parse(payload) == statement


@pytest.mark.reliability(
    area="attestation",
    fault="a RAW message of 4097 bytes, or a DIGEST of the wrong length, sent to KMS Sign (the local KMS)",
    expected="ValidationException, as KMS answers; 4096 bytes RAW are signed",
)
def test_the_local_kms_refuses_what_kms_refuses(kms: Any, observed: Any) -> None:
    key_id = _key(kms)
    kms.sign(KeyId=key_id, Message=b"x" * 4096, MessageType="RAW", SigningAlgorithm="ECDSA_SHA_256")
    with pytest.raises(ClientError, match=r"ValidationException.*less than or equal to 4096") as raw:
        kms.sign(KeyId=key_id, Message=b"x" * 4097, MessageType="RAW", SigningAlgorithm="ECDSA_SHA_256")
    with pytest.raises(ClientError, match=r"ValidationException.*Digest is invalid length"):
        kms.sign(KeyId=key_id, Message=b"x" * 31, MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256")
    observed(f"refused: {str(raw.value)[:90]}")


def test_a_signer_sending_a_large_pae_raw_fails_here_as_it_would_on_aws(
    kms: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(attestation_kms, "RAW_MESSAGE_LIMIT", 1 << 30)  # a signer that never switches to DIGEST
    with pytest.raises(SigningError, match="ValidationException"):
        dsse.sign(make_statement().payload(), KmsSigner(_key(kms), client=kms))


def test_a_digest_signature_verifies_with_kms_verify_as_on_aws(kms: Any) -> None:
    key_id = _key(kms)
    _, large = _sizes()
    envelope = dsse.sign(large.payload(), KmsSigner(key_id, client=kms))
    import base64
    import hashlib

    digest = hashlib.sha256(dsse.pae(dsse.PAYLOAD_TYPE, large.payload())).digest()
    answer = kms.verify(
        KeyId=key_id,
        Message=digest,
        MessageType="DIGEST",
        Signature=base64.b64decode(envelope.signatures[0].sig),
        SigningAlgorithm="ECDSA_SHA_256",
    )
    assert answer["SignatureValid"] is True


def test_a_key_of_another_spec_or_usage_is_refused(kms: Any) -> None:
    for key_id in (
        _key(kms, "RSA_2048"),
        kms.create_key(KeySpec="SYMMETRIC_DEFAULT", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["Arn"],
    ):
        with pytest.raises(AttestationError):
            KmsPublicKey(key_id, client=kms).load()
    with pytest.raises(AttestationError, match="GetPublicKey failed"):
        KmsPublicKey("arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000", client=kms).load()


# --- why the patch exists: moto as it is ------------------------------------------------------------------


def test_without_the_patch_moto_signs_a_digest_that_nothing_else_verifies(moto_as_is: Any) -> None:
    """moto hashes a DIGEST message again: the >4 KiB record fails the independent verifier while moto's own
    Verify calls it valid. When moto fixes this, this test fails: drop eksd_adopt.local.kms then."""
    key_id = _key(moto_as_is)
    _, large = _sizes()
    envelope = dsse.sign(large.payload(), KmsSigner(key_id, client=moto_as_is))
    with pytest.raises(SignatureError, match="no signature"):
        dsse.verify(envelope, KmsPublicKey(key_id, client=moto_as_is).load())


def test_without_the_patch_moto_signs_raw_messages_of_any_size(moto_as_is: Any) -> None:
    key_id = _key(moto_as_is)
    moto_as_is.sign(KeyId=key_id, Message=b"x" * 100_000, MessageType="RAW", SigningAlgorithm="ECDSA_SHA_256")
