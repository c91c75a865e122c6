"""DSSE: the envelope, the pre-authentication encoding, signing through a port, verification with ``cryptography``.

As the DSSE spec defines them (secure-systems-lab/dsse, protocol.md and envelope.md, v1.0.0): the
signature is over ``PAE(UTF8(payloadType), payload)``, where

    PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body

(``LEN`` the ASCII decimal byte length, no leading zeros; ``SP`` one space), never over the payload
alone, so a signature cannot be replayed under another payload type. The envelope is
``{"payload": base64(body), "payloadType": type, "signatures": [{"keyid": ..., "sig": base64(sig)}]}``;
verifiers accept standard or URL-safe base64 and ignore fields they do not know.

Keys are ECDSA over NIST P-256 with SHA-256, signatures DER-encoded (what KMS returns for
``ECDSA_SHA_256``, and what ``openssl dgst -verify`` reads), public keys X.509 SubjectPublicKeyInfo in
PEM or DER (what KMS ``GetPublicKey`` returns). The verifier here needs nothing of ours but the key:
it is what ``eksd-adopt verify --public-key`` and the tests use, and KMS is never asked to verify.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from eksd_adopt.attestation.errors import SignatureError

PAYLOAD_TYPE = "application/vnd.in-toto+json"
ENVELOPE_MEDIA_TYPE = "application/vnd.dsse.envelope.v1+json"
MAX_ENVELOPE_BYTES = 8 * 1024 * 1024  # a 600-artifact record is about 0.3 MiB
MAX_PUBLIC_KEY_BYTES = 64 * 1024
MAX_SIGNATURES = 16
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]*={0,2}", re.ASCII)


def pae(payload_type: str, body: bytes) -> bytes:
    """DSSE's pre-authentication encoding of ``body`` under ``payload_type``: the bytes that are signed."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(body), body)


class Signer(Protocol):
    """Signs with an ECDSA P-256 key: DER signature of SHA-256 over ``message`` (KMS in production)."""

    @property
    def keyid(self) -> str:
        """The DSSE ``keyid`` hint: :func:`key_fingerprint` of the public key (never trusted by a verifier)."""
        ...

    def sign(self, message: bytes) -> bytes: ...


class EnvelopeSignature(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    keyid: str = Field(default="", max_length=256)
    sig: str = Field(min_length=1, max_length=4096)


class Envelope(BaseModel):
    """A DSSE JSON envelope (field names as the spec spells them)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    payload: str = Field(max_length=MAX_ENVELOPE_BYTES)
    payloadType: str = Field(min_length=1, max_length=256)
    signatures: tuple[EnvelopeSignature, ...] = Field(min_length=1, max_length=MAX_SIGNATURES)

    def payload_bytes(self) -> bytes:
        return _b64decode(self.payload, "payload")

    def to_json(self) -> bytes:
        """One line of JSON (no newline), keys in the spec's order."""
        document: dict[str, Any] = {
            "payload": self.payload,
            "payloadType": self.payloadType,
            "signatures": [{"keyid": s.keyid, "sig": s.sig} for s in self.signatures],
        }
        return json.dumps(document, separators=(",", ":"), ensure_ascii=True).encode("ascii")

    @classmethod
    def from_json(cls, data: bytes) -> Envelope:
        if len(data) > MAX_ENVELOPE_BYTES:
            raise SignatureError(f"the envelope is {len(data)} bytes, over the {MAX_ENVELOPE_BYTES}-byte limit")
        try:
            return cls.model_validate_json(data, strict=True)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(envelope)"
            raise SignatureError(f"not a DSSE envelope: {where}: {first['msg']}") from exc


def sign(payload: bytes, signer: Signer, payload_type: str = PAYLOAD_TYPE) -> Envelope:
    """An envelope over ``payload`` with one signature by ``signer``."""
    signature = signer.sign(pae(payload_type, payload))
    return Envelope(
        payload=base64.b64encode(payload).decode("ascii"),
        payloadType=payload_type,
        signatures=(EnvelopeSignature(keyid=signer.keyid, sig=base64.b64encode(signature).decode("ascii")),),
    )


def load_public_key(data: bytes) -> ec.EllipticCurvePublicKey:
    """An ECDSA P-256 public key from SubjectPublicKeyInfo in PEM or DER; SignatureError otherwise."""
    if len(data) > MAX_PUBLIC_KEY_BYTES:
        raise SignatureError(f"a public key of {len(data)} bytes is over the {MAX_PUBLIC_KEY_BYTES}-byte limit")
    try:
        key = (
            serialization.load_pem_public_key(data)
            if data.lstrip().startswith(b"-----BEGIN")
            else serialization.load_der_public_key(data)
        )
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise SignatureError(f"not a PEM or DER SubjectPublicKeyInfo public key: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise SignatureError("the public key is not an ECDSA key on NIST P-256 (KMS key spec ECC_NIST_P256)")
    return key


def public_key_der(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def public_key_pem(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_fingerprint(key: ec.EllipticCurvePublicKey) -> str:
    """sha256 of the DER SubjectPublicKeyInfo, hex: the ``keyid`` we write (``openssl pkey -pubin -outform DER``)."""
    return hashlib.sha256(public_key_der(key)).hexdigest()


def verify(envelope: Envelope, key: ec.EllipticCurvePublicKey, payload_type: str = PAYLOAD_TYPE) -> bytes:
    """The payload, once a signature over its PAE verifies with ``key``; SignatureError otherwise.

    ``keyid`` is a hint the spec forbids trusting: every signature is tried against the one key given.
    """
    body = envelope.payload_bytes()
    message = pae(envelope.payloadType, body)
    for signature in envelope.signatures:
        try:
            key.verify(_b64decode(signature.sig, "signature"), message, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, SignatureError):
            continue
        if envelope.payloadType != payload_type:
            raise SignatureError(f"payloadType is {envelope.payloadType[:100]!r}, not {payload_type}")
        return body
    raise SignatureError(
        f"no signature of the envelope verifies with the public key {key_fingerprint(key)} "
        f"(signed by {', '.join(s.keyid[:64] or '(no keyid)' for s in envelope.signatures)})"
    )


def _b64decode(text: str, what: str) -> bytes:
    # The spec: signers may use standard or URL-safe base64, and verifiers MUST accept either.
    if not _BASE64.fullmatch(text):
        raise SignatureError(f"the envelope's {what} is not base64")
    try:
        return base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
    except binascii.Error as exc:
        raise SignatureError(f"the envelope's {what} is not base64: {exc}") from exc
