"""Holds moto's KMS ``Sign``/``Verify`` to what KMS does with ``MessageType``: DIGEST not hashed again, RAW at most 4 KiB.

KMS: "Use RAW for unhashed messages; use DIGEST for message digests, which are already hashed ... When
the value is DIGEST, KMS skips the hashing step in the signing algorithm", "the length of the Message
value must match the length of hashed messages for the specified signing algorithm", and a RAW message is
at most 4096 bytes (https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html,
API_Verify.html; botocore's model: ``PlaintextType`` ``max: 4096``; botocore does not check a maximum
on the client, the service refuses it with a ValidationException). moto (5.2.x, and getmoto/moto's
main at 0af643a, moto/kms/responses.py ``sign``/``verify``, models.py "The MessageType-parameter
DIGEST is not yet implemented") reads ``MessageType`` and drops it: a digest is hashed again, so a
DIGEST signature verifies with moto's own ``Verify`` and with nothing else, and a RAW message of any
size is signed. :func:`enforce_kms_message_types` closes both gaps for ECC keys, in this process (the
in-process ``ThreadedMotoServer`` of the local runtime, or ``mock_aws`` in tests); DIGEST with an RSA
key is refused rather than signed wrongly.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

RAW_MESSAGE_LIMIT = 4096
_DIGEST_LENGTHS = {"SHA_256": 32, "SHA_384": 48, "SHA_512": 64}
_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "ECDSA_SHA_256": hashes.SHA256,
    "ECDSA_SHA_384": hashes.SHA384,
    "ECDSA_SHA_512": hashes.SHA512,
}
# Set for the duration of one Sign/Verify request whose MessageType is DIGEST (moto's threaded server
# answers each request on its own thread, so the flag is that request's alone).
_message_is_digest: ContextVar[bool] = ContextVar("kms_message_is_digest", default=False)


def enforce_kms_message_types() -> Callable[[], None]:
    """Patch moto's KMS as the module says; returns the undo."""
    from moto.kms import responses, utils
    from moto.kms.exceptions import ValidationException

    targets: list[tuple[Any, str]] = [
        (responses.KmsResponse, "sign"),
        (responses.KmsResponse, "verify"),
        (utils.ECDSAPrivateKey, "sign"),
        (utils.ECDSAPrivateKey, "verify"),
        (utils.RSAPrivateKey, "sign"),
        (utils.RSAPrivateKey, "verify"),
    ]
    for owner, name in targets:
        if not hasattr(owner, name):  # pragma: no cover - a moto release that moved these: fail loudly
            raise RuntimeError(f"cannot hold moto's KMS to MessageType: {owner} has no {name}")
    originals: list[Any] = [getattr(owner, name) for owner, name in targets]
    saved: dict[str, Any] = dict(
        zip(("sign", "verify", "ec_sign", "ec_verify", "rsa_sign", "rsa_verify"), originals, strict=True)
    )

    def checked(original: Callable[[Any], str]) -> Callable[[Any], str]:
        def handler(self: Any) -> str:
            message = self._get_param("Message") or b""
            kind = self._get_param("MessageType") or "RAW"
            algorithm = str(self._get_param("SigningAlgorithm") or "")
            if kind not in ("RAW", "DIGEST"):
                raise ValidationException(f"MessageType {kind} is not imitated by the local KMS (RAW or DIGEST)")
            if kind == "RAW" and len(message) > RAW_MESSAGE_LIMIT:
                raise ValidationException(
                    "1 validation error detected: Value at 'message' failed to satisfy constraint: "
                    f"Member must have length less than or equal to {RAW_MESSAGE_LIMIT}"
                )
            if kind == "DIGEST":
                expected = next((n for suffix, n in _DIGEST_LENGTHS.items() if algorithm.endswith(suffix)), None)
                if expected is not None and len(message) != expected:
                    raise ValidationException(f"Digest is invalid length for algorithm {algorithm}.")
            token = _message_is_digest.set(kind == "DIGEST")
            try:
                return original(self)
            finally:
                _message_is_digest.reset(token)

        return handler

    def ec_sign(self: Any, message: bytes, signing_algorithm: str) -> bytes:
        if not _message_is_digest.get():
            return saved["ec_sign"](self, message, signing_algorithm)
        utils.validate_signing_algorithm(signing_algorithm, self.valid_signing_algorithms)
        return self.private_key.sign(message, ec.ECDSA(Prehashed(_HASHES[signing_algorithm]())))

    def ec_verify(self: Any, message: bytes, signature: bytes, signing_algorithm: str) -> bool:
        if not _message_is_digest.get():
            return saved["ec_verify"](self, message, signature, signing_algorithm)
        utils.validate_signing_algorithm(signing_algorithm, self.valid_signing_algorithms)
        try:
            self.private_key.public_key().verify(signature, message, ec.ECDSA(Prehashed(_HASHES[signing_algorithm]())))
        except InvalidSignature:
            return False
        return True

    def rsa_refusing_digest(name: str) -> Callable[..., Any]:
        def method(self: Any, *args: Any) -> Any:
            if _message_is_digest.get():
                raise ValidationException("MessageType DIGEST with an RSA key is not imitated by the local KMS")
            return saved[name](self, *args)

        return method

    replacements = [
        checked(saved["sign"]),
        checked(saved["verify"]),
        ec_sign,
        ec_verify,
        rsa_refusing_digest("rsa_sign"),
        rsa_refusing_digest("rsa_verify"),
    ]
    for (owner, name), replacement in zip(targets, replacements, strict=True):
        setattr(owner, name, replacement)

    def undo() -> None:
        for (owner, name), original in zip(targets, originals, strict=True):
            setattr(owner, name, original)

    return undo
