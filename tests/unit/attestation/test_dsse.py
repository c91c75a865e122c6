"""DSSE as its spec defines it: the PAE byte for byte, signatures checked independently, every tampering refused."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from eksd_adopt.attestation import dsse
from eksd_adopt.attestation.errors import SignatureError
from tests.unit.attestation.support import LocalSigner, make_statement


def test_pae_is_the_specs_test_vector() -> None:
    # secure-systems-lab/dsse protocol.md, "Test Vectors".
    assert dsse.pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_pae_counts_bytes_not_characters() -> None:
    assert dsse.pae("t\u00e9", b"\xff" * 3) == b"DSSEv1 3 t\xc3\xa9 3 \xff\xff\xff"
    assert dsse.pae(dsse.PAYLOAD_TYPE, b"") == b"DSSEv1 28 application/vnd.in-toto+json 0 "


def test_the_specs_signed_example_verifies() -> None:
    """The spec's example envelope (ECDSA P-256, raw r||s) verifies once its signature is DER-encoded."""
    numbers = ec.EllipticCurvePublicNumbers(
        46950820868899156662930047687818585632848591499744589407958293238635476079160,
        5640078356564379163099075877009565129882514886557779369047442380624545832820,
        ec.SECP256R1(),
    )
    raw = base64.b64decode("A3JqsQGtVsJ2O2xqrI5IcnXip5GToJ3F+FnZ+O88SjtR6rDAajabZKciJTfUiHqJPcIAriEGAHTVeCUjW2JIZA==")
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    envelope = dsse.Envelope.from_json(
        json.dumps(
            {
                "payload": "aGVsbG8gd29ybGQ=",
                "payloadType": "http://example.com/HelloWorld",
                "signatures": [{"sig": base64.b64encode(der).decode()}],
            }
        ).encode()
    )
    payload = dsse.verify(envelope, numbers.public_key(), payload_type="http://example.com/HelloWorld")
    assert payload == b"hello world"


def test_a_signed_record_verifies_with_cryptography_alone() -> None:
    signer = LocalSigner()
    payload = make_statement().payload()
    envelope = dsse.Envelope.from_json(dsse.sign(payload, signer).to_json())
    # Independently of our PAE: the spec's formula written out, the signature checked by cryptography.
    body = base64.b64decode(envelope.payload)
    pae = b"DSSEv1 " + str(len(envelope.payloadType)).encode() + b" " + envelope.payloadType.encode()
    pae += b" " + str(len(body)).encode() + b" " + body
    signer.public_key().verify(base64.b64decode(envelope.signatures[0].sig), pae, ec.ECDSA(hashes.SHA256()))
    assert body == payload
    assert envelope.signatures[0].keyid == dsse.key_fingerprint(signer.public_key())
    assert dsse.verify(envelope, signer.public_key()) == payload


def _tampered(envelope: dsse.Envelope, **changes: object) -> dsse.Envelope:
    return dsse.Envelope.model_validate({**envelope.model_dump(), **changes})


@pytest.mark.reliability(
    area="attestation",
    fault="one byte of a signed record's payload changed (every 97th position, and the first and last)",
    expected="refused: the signature does not verify",
)
def test_any_changed_payload_byte_is_refused(observed: object) -> None:
    signer = LocalSigner()
    payload = make_statement(images=3, archives=4).payload()
    envelope = dsse.sign(payload, signer)
    positions = sorted({0, len(payload) - 1, *range(0, len(payload), 97)})
    for position in positions:
        changed = bytearray(payload)
        changed[position] ^= 0x01
        forged = _tampered(envelope, payload=base64.b64encode(bytes(changed)).decode())
        with pytest.raises(SignatureError, match="no signature"):
            dsse.verify(forged, signer.public_key())
    observed(f"{len(positions)} single-byte changes, each refused")  # type: ignore[operator]


@pytest.mark.reliability(
    area="attestation",
    fault="one bit of the signature changed, or the payloadType changed",
    expected="refused: the signature does not verify",
)
def test_a_changed_signature_or_payload_type_is_refused(observed: object) -> None:
    signer = LocalSigner()
    envelope = dsse.sign(make_statement(images=1, archives=1).payload(), signer)
    signature = bytearray(base64.b64decode(envelope.signatures[0].sig))
    for position in (0, len(signature) // 2, len(signature) - 1):
        changed = bytearray(signature)
        changed[position] ^= 0x01
        forged = _tampered(
            envelope, signatures=[{"keyid": signer.keyid, "sig": base64.b64encode(bytes(changed)).decode()}]
        )
        with pytest.raises(SignatureError):
            dsse.verify(forged, signer.public_key())
    with pytest.raises(SignatureError):
        dsse.verify(_tampered(envelope, payloadType="application/json"), signer.public_key())
    observed("refused")  # type: ignore[operator]


def test_keyid_is_a_hint_never_trusted() -> None:
    ours, theirs = LocalSigner(), LocalSigner()
    payload = make_statement(images=1, archives=1).payload()
    forged = dsse.sign(payload, theirs)
    claimed = _tampered(forged, signatures=[{"keyid": ours.keyid, "sig": forged.signatures[0].sig}])
    with pytest.raises(SignatureError, match=f"public key {ours.keyid}"):
        dsse.verify(claimed, ours.public_key())
    # The right key verifies whatever keyid says; a second signature by another key does not get in the way.
    genuine = dsse.sign(payload, ours)
    both = _tampered(genuine, signatures=[forged.signatures[0], genuine.signatures[0]])
    assert dsse.verify(both, ours.public_key()) == payload


def test_a_signature_of_another_payload_type_is_refused_even_when_it_verifies() -> None:
    signer = LocalSigner()
    envelope = dsse.sign(b"{}", signer, payload_type="application/json")
    with pytest.raises(SignatureError, match="payloadType"):
        dsse.verify(envelope, signer.public_key())


def test_url_safe_base64_is_accepted_and_garbage_is_not() -> None:
    signer = LocalSigner()
    payload = b"\xfb\xff" * 30  # standard base64 of these bytes has '+' and '/'
    envelope = dsse.sign(payload, signer, payload_type="x")
    urlsafe = _tampered(
        envelope,
        payload=base64.urlsafe_b64encode(payload).decode(),
        signatures=[{"sig": base64.urlsafe_b64encode(base64.b64decode(envelope.signatures[0].sig)).decode()}],
    )
    assert dsse.verify(urlsafe, signer.public_key(), payload_type="x") == payload
    for bad in ("not base64!", "YWJj\n", "YWJ", "\u0661\u0662\u0663\u0664"):
        with pytest.raises(SignatureError, match="base64"):
            _tampered(envelope, payload=bad).payload_bytes()


@pytest.mark.parametrize(
    "document",
    [
        {},
        {"payload": "e30=", "payloadType": "x"},  # no signatures
        {"payload": "e30=", "payloadType": "x", "signatures": []},
        {"payload": 1, "payloadType": "x", "signatures": [{"sig": "AA=="}]},
        {"payload": "e30=", "payloadType": "x", "signatures": [{"keyid": "k"}]},
        [],
    ],
)
def test_what_is_not_an_envelope_is_refused_naming_the_field(document: object) -> None:
    with pytest.raises(SignatureError, match="not a DSSE envelope"):
        dsse.Envelope.from_json(json.dumps(document).encode())


def test_unknown_envelope_fields_are_ignored_as_the_spec_says() -> None:
    envelope = dsse.Envelope.from_json(
        b'{"payload":"e30=","payloadType":"x","signatures":[{"sig":"AA==","extra":1}],"future":true}'
    )
    assert envelope.payload_bytes() == b"{}"


def test_an_oversized_envelope_is_refused_before_parsing() -> None:
    with pytest.raises(SignatureError, match="over the"):
        dsse.Envelope.from_json(b" " * (dsse.MAX_ENVELOPE_BYTES + 1))


def test_public_keys_load_from_pem_and_der_and_only_p256() -> None:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    pem, der = dsse.public_key_pem(key), dsse.public_key_der(key)
    assert dsse.public_key_der(dsse.load_public_key(pem)) == der
    assert dsse.public_key_der(dsse.load_public_key(der)) == der
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    for other in (p384, rsa_key):
        data = other.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        with pytest.raises(SignatureError, match="P-256"):
            dsse.load_public_key(data)
    for garbage in (b"", b"-----BEGIN PUBLIC KEY-----\nxx\n-----END PUBLIC KEY-----\n", b"\x30\x03\x02\x01\x01"):
        with pytest.raises(SignatureError):
            dsse.load_public_key(garbage)
    with pytest.raises(SignatureError, match="over the"):
        dsse.load_public_key(b"0" * (dsse.MAX_PUBLIC_KEY_BYTES + 1))


def test_a_raw_r_s_signature_is_not_taken_for_der() -> None:
    signer = LocalSigner()
    envelope = dsse.sign(b"{}", signer, payload_type="x")
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    r, s = decode_dss_signature(base64.b64decode(envelope.signatures[0].sig))
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    with pytest.raises(SignatureError):
        dsse.verify(_tampered(envelope, signatures=[{"sig": base64.b64encode(raw).decode()}]), signer.public_key(), "x")
    with pytest.raises(InvalidSignature):  # and cryptography itself agrees
        signer.public_key().verify(raw, dsse.pae("x", b"{}"), ec.ECDSA(hashes.SHA256()))
