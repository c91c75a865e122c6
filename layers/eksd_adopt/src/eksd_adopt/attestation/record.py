"""Signing an adoption record and keeping it write-once in the bucket beside the stage's manifest.

A record is one DSSE envelope (JSON, one line) in a ``.intoto.jsonl`` file, the in-toto bundle
format, at

    <prefix>/<stage>/kubernetes-<ch>/kubernetes-<ch>-eks-<N>.<kind>.<YYYYMMDDTHHMMSSZ>.intoto.jsonl

beside ``kubernetes-<ch>-eks-<N>.yaml``, the manifest the stage's pointer names. ``kind`` is
``promotion`` or ``rollback``, the time is the predicate's ``recorded_at`` in UTC: every promotion and
every rollback makes a new record, the keys of one release in one stage sort by time, and the newest
is the last. A record is written with S3's conditional write (``IfNoneMatch: *``, through
:meth:`RecordBucket.put_if_absent`, the same atomic write-once the release manifests use): a record,
once there, is never replaced. Writing the same statement again (a retried promotion with the same
``recorded_at``) finds the record there with the same payload and signs nothing; another payload under
that key is refused. The public key is an object beside the records, ``<prefix>/attestation/public-key.pem``.
"""

from __future__ import annotations

import hashlib
import re

from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import BaseModel, ConfigDict

from eksd_adopt.archives.manifests import manifest_key
from eksd_adopt.archives.store import META_SHA256
from eksd_adopt.attestation import dsse
from eksd_adopt.attestation.errors import RecordConflictError, RecordNotFoundError, SignatureError
from eksd_adopt.attestation.ports import RecordBucket
from eksd_adopt.attestation.statement import AdoptionPredicate, AdoptionStatement, RecordKind, release_of

RECORD_SUFFIX = ".intoto.jsonl"
RECORD_CONTENT_TYPE = "application/jsonl"
PUBLIC_KEY_CONTENT_TYPE = "application/x-pem-file"
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
_STAMP = r"[0-9]{8}T[0-9]{6}Z"


class StoredRecord(BaseModel):
    """A record in the bucket: its key, and whether this call wrote it (False: it was there already)."""

    model_config = ConfigDict(frozen=True)

    key: str
    created: bool
    envelope: bytes  # the JSON line, without its newline: what goes into the registry as a referrer's layer


class RecordRef(BaseModel):
    """A record's key, and what its name says: kind and time stamp."""

    model_config = ConfigDict(frozen=True)

    key: str
    kind: RecordKind
    stamp: str


def records_prefix(prefix: str, stage: str, release_id: str) -> str:
    """``<prefix>/<stage>/kubernetes-<ch>/kubernetes-<ch>-eks-<N>.``: every record of a release in a stage."""
    channel, number = release_of(release_id)
    return manifest_key(prefix, stage, channel, number).removesuffix(".yaml") + "."


def record_key(prefix: str, predicate: AdoptionPredicate) -> str:
    stamp = predicate.recorded_at.strftime(STAMP_FORMAT)
    head = records_prefix(prefix, predicate.stage, predicate.upstream.release_id)
    return f"{head}{predicate.kind.value}.{stamp}{RECORD_SUFFIX}"


def public_key_key(prefix: str) -> str:
    return "/".join(p for p in (prefix.strip("/"), "attestation", "public-key.pem") if p)


def write_record(bucket: RecordBucket, prefix: str, statement: AdoptionStatement, signer: dsse.Signer) -> StoredRecord:
    """Sign ``statement`` and store it write-once (see the module's doc); RecordConflictError when the key
    holds another payload."""
    key = record_key(prefix, statement.predicate)
    payload = statement.payload()
    existing = _existing(bucket, key)
    if existing is not None:
        return _same_payload(key, existing, payload)
    line = dsse.sign(payload, signer).to_json()
    body = line + b"\n"
    created = bucket.put_if_absent(
        key, body, metadata={META_SHA256: hashlib.sha256(body).hexdigest()}, content_type=RECORD_CONTENT_TYPE
    )
    if created:
        return StoredRecord(key=key, created=True, envelope=line)
    raced = _existing(bucket, key)  # another writer got there between our check and our write
    if raced is None:
        raise RecordConflictError(f"{key}: the conditional write failed, yet nothing is there")
    return _same_payload(key, raced, payload)


def _existing(bucket: RecordBucket, key: str) -> dsse.Envelope | None:
    if bucket.head(key) is None:
        return None
    return read_record(bucket, key)


def _same_payload(key: str, envelope: dsse.Envelope, payload: bytes) -> StoredRecord:
    if envelope.payload_bytes() != payload:
        raise RecordConflictError(
            f"{key} already holds another adoption record (payload sha256 "
            f"{hashlib.sha256(envelope.payload_bytes()).hexdigest()}, new {hashlib.sha256(payload).hexdigest()}); "
            "records are written once"
        )
    return StoredRecord(key=key, created=False, envelope=envelope.to_json())


def list_records(bucket: RecordBucket, prefix: str, stage: str, release_id: str) -> list[RecordRef]:
    """Every record of ``release_id`` in ``stage``, oldest first (keys not named as records are ignored)."""
    head = records_prefix(prefix, stage, release_id)
    name = re.compile(
        re.escape(head) + rf"(?P<kind>promotion|rollback)\.(?P<stamp>{_STAMP}){re.escape(RECORD_SUFFIX)}", re.ASCII
    )
    found = []
    for key in bucket.list_keys(head):
        match = name.fullmatch(key)
        if match:
            found.append(RecordRef(key=key, kind=RecordKind(match["kind"]), stamp=match["stamp"]))
    return sorted(found, key=lambda r: (r.stamp, r.kind.value))


def newest_record(bucket: RecordBucket, prefix: str, stage: str, release_id: str) -> RecordRef:
    records = list_records(bucket, prefix, stage, release_id)
    if not records:
        raise RecordNotFoundError(
            f"no adoption record of {release_id} in stage {stage} (under {records_prefix(prefix, stage, release_id)})"
        )
    return records[-1]


def read_record(bucket: RecordBucket, key: str) -> dsse.Envelope:
    """The envelope stored at ``key``: one JSON line, bounded in size; SignatureError when it is not one."""
    stored = bucket.head(key)
    if stored is None:
        raise RecordNotFoundError(f"{key}: no such record")
    if stored.size > dsse.MAX_ENVELOPE_BYTES:
        raise SignatureError(f"{key}: a record of {stored.size} bytes is over the {dsse.MAX_ENVELOPE_BYTES}-byte limit")
    data = bucket.get(key)
    if data is None:
        raise RecordNotFoundError(f"{key}: no such record")
    lines = [line for line in data.split(b"\n") if line.strip()]
    if len(lines) != 1:
        raise SignatureError(f"{key}: a record holds exactly one envelope line, not {len(lines)}")
    try:
        return dsse.Envelope.from_json(lines[0])
    except SignatureError as exc:
        raise SignatureError(f"{key}: {exc}") from exc


def publish_public_key(bucket: RecordBucket, prefix: str, key: ec.EllipticCurvePublicKey) -> str:
    """Store the verifying key as PEM beside the records, write-once; RecordConflictError if another key is there."""
    object_key = public_key_key(prefix)
    pem = dsse.public_key_pem(key)
    if bucket.put_if_absent(
        object_key, pem, metadata={META_SHA256: hashlib.sha256(pem).hexdigest()}, content_type=PUBLIC_KEY_CONTENT_TYPE
    ):
        return object_key
    stored = bucket.get(object_key) or b""
    try:
        same = dsse.public_key_der(dsse.load_public_key(stored)) == dsse.public_key_der(key)
    except SignatureError:
        same = False
    if not same:
        raise RecordConflictError(f"{object_key} holds another public key than the signing key's")
    return object_key
