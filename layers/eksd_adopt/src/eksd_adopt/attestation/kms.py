"""The KMS signer and public key: an asymmetric key of spec ECC_NIST_P256 signing with ECDSA_SHA_256.

KMS ``Sign`` takes the message itself (``MessageType=RAW``) only up to 4096 bytes: "Messages can be
0-4096 bytes. To sign a larger message, provide a message digest" (KMS API reference, Sign, Message:
https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html; botocore's KMS model gives the
``Message`` shape ``PlaintextType`` ``max: 4096``). The PAE of a real release's record (17 images and
about 45 archives) is about 50 KB, so a larger PAE is signed as ``MessageType=DIGEST`` with its
SHA-256: "When the value is DIGEST, KMS skips the hashing step in the signing algorithm", and ECDSA_SHA_256
over the message equals ECDSA over its SHA-256, so the signature verifies against the PAE with any
ECDSA P-256/SHA-256 verifier (``openssl dgst -sha256 -verify``). A PAE that fits is sent RAW.
moto's KMS ignores ``MessageType`` (it hashes a digest again, and signs a RAW message of any size);
the local runtime and the tests patch it to behave as KMS does (:mod:`eksd_adopt.local.kms`).

Signatures come back DER-encoded (the API reference, Sign, Signature: for ECDSA "the signature is
DER-encoded"), public keys as DER SubjectPublicKeyInfo (GetPublicKey, PublicKey).
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from cryptography.hazmat.primitives.asymmetric import ec

from eksd_adopt.attestation import dsse
from eksd_adopt.attestation.errors import AttestationError, SignatureError, SigningError

KEY_SPEC = "ECC_NIST_P256"
SIGNING_ALGORITHM = "ECDSA_SHA_256"
RAW_MESSAGE_LIMIT = 4096


def kms_client() -> Any:
    return boto3.client("kms")


class KmsPublicKey:
    """The verifying key of a KMS signing key, checked to be what records are signed with (``kms:GetPublicKey``)."""

    def __init__(self, key_id: str, *, client: Any | None = None) -> None:
        self.key_id = key_id
        self.kms = client or kms_client()

    def load(self) -> ec.EllipticCurvePublicKey:
        try:
            answer = self.kms.get_public_key(KeyId=self.key_id)
        except (ClientError, BotoCoreError) as exc:
            raise AttestationError(f"KMS key {self.key_id}: GetPublicKey failed ({exc})") from exc
        spec = answer.get("KeySpec") or answer.get("CustomerMasterKeySpec")
        if spec != KEY_SPEC or answer.get("KeyUsage") != "SIGN_VERIFY":
            raise AttestationError(
                f"KMS key {self.key_id} is {spec}/{answer.get('KeyUsage')}, not {KEY_SPEC}/SIGN_VERIFY"
            )
        if SIGNING_ALGORITHM not in (answer.get("SigningAlgorithms") or []):
            raise AttestationError(f"KMS key {self.key_id} does not sign with {SIGNING_ALGORITHM}")
        try:
            return dsse.load_public_key(bytes(answer["PublicKey"]))
        except SignatureError as exc:
            raise AttestationError(f"KMS key {self.key_id}: {exc}") from exc


class KmsSigner:
    """:class:`~eksd_adopt.attestation.dsse.Signer` on KMS (``kms:Sign``, and ``kms:GetPublicKey`` for the keyid)."""

    def __init__(self, key_id: str, *, client: Any | None = None) -> None:
        self.key_id = key_id
        self.kms = client or kms_client()
        self._keyid: str | None = None
        self._lock = threading.Lock()

    @property
    def keyid(self) -> str:
        with self._lock:
            if self._keyid is None:
                self._keyid = dsse.key_fingerprint(KmsPublicKey(self.key_id, client=self.kms).load())
            return self._keyid

    def sign(self, message: bytes) -> bytes:
        if len(message) <= RAW_MESSAGE_LIMIT:
            request = {"Message": message, "MessageType": "RAW"}
        else:
            request = {"Message": hashlib.sha256(message).digest(), "MessageType": "DIGEST"}
        try:
            answer = self.kms.sign(KeyId=self.key_id, SigningAlgorithm=SIGNING_ALGORITHM, **request)
        except (ClientError, BotoCoreError) as exc:
            raise SigningError(f"KMS key {self.key_id}: Sign ({request['MessageType']}) failed ({exc})") from exc
        return bytes(answer["Signature"])
