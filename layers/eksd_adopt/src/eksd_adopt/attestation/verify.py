"""Verifying an adoption: the stage's pointer, its newest signed record, then every artifact the record names.

``verify_adoption`` reads what a stage points at (or takes a release id), fetches the newest record of
that release in that stage, checks its signature with the public key given (never asking KMS to verify),
checks that the statement is an adoption record naming that release and stage, then re-checks every
subject where it lives: each image's index digest in the registry, by the stage's tag and by digest;
each archive's sha256/sha512 in its object metadata (and, ``deep``, its bytes re-hashed); the stage's
manifest re-hashed. The result names every subject with its outcome; nothing is trusted that was not
checked against the signed record.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from enum import StrEnum
from functools import partial
from typing import Literal
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import BaseModel, ConfigDict, Field

from eksd_adopt.archives.errors import ArchiveMissingError
from eksd_adopt.archives.store import META_SHA256, META_SHA512
from eksd_adopt.attestation import dsse
from eksd_adopt.attestation.errors import RecordNotFoundError, SignatureError, StatementError
from eksd_adopt.attestation.ports import ManifestDigests, RecordBucket, StagePointer, StagePointers
from eksd_adopt.attestation.record import STAMP_FORMAT, RecordRef, newest_record, read_record
from eksd_adopt.attestation.statement import (
    AdoptedArchive,
    AdoptedImage,
    AdoptionStatement,
    RecordKind,
    StageManifest,
    check_channel,
    check_stage,
    release_of,
)
from eksd_adopt.errors import EksdAdoptError
from eksd_adopt.reference import ImageReference
from eksd_adopt.retry import TransientError

REHASH_CHUNK = 1024 * 1024
MAX_STAGE_MANIFEST_BYTES = 4 * 1024 * 1024  # the upstream manifest's own cap is 1 MiB; rewritten URIs are longer


class Outcome(StrEnum):
    OK = "ok"
    MISMATCH = "mismatch"  # found, and not what the record says
    MISSING = "missing"  # not found where the record says
    UNCHECKED = "unchecked"  # could not be checked (the registry or bucket failed to answer)


class SubjectCheck(BaseModel):
    """One thing checked: the record itself, the pointer, or one subject."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["record", "pointer", "image", "archive", "manifest"]
    name: str
    outcome: Outcome
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK


class VerificationReport(BaseModel):
    stage: str
    release_id: str | None
    record_key: str | None = None
    record_kind: RecordKind | None = None
    recorded_at: datetime | None = None
    previous_release_id: str | None = None
    keyid: str
    deep: bool
    checks: list[SubjectCheck] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def failures(self) -> list[SubjectCheck]:
        return [c for c in self.checks if not c.ok]

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for check in self.checks:
            found[check.kind] = found.get(check.kind, 0) + 1
        return found


def verify_adoption(
    *,
    stage: str,
    prefix: str,
    bucket: RecordBucket,
    pointers: StagePointers,
    registry: ManifestDigests,
    public_key: ec.EllipticCurvePublicKey,
    channel: str | None = None,
    release_id: str | None = None,
    bucket_name: str | None = None,
    deep: bool = False,
    workers: int = 8,
) -> VerificationReport:
    """Verify what ``stage`` points at for ``channel`` (or the newest record of ``release_id`` there).

    Raises only for what stops any check (the pointer or bucket cannot be read at all); everything the
    evidence says is in the report.
    """
    if (channel is None) == (release_id is None):
        raise ValueError("name a channel or a release id, not both")
    # What the caller names is checked before it goes into a key or parameter name: ValueError, a usage error.
    check_stage(stage)
    if channel is not None:
        check_channel(channel)
    if release_id is not None:
        release_of(release_id)
    report = VerificationReport(stage=stage, release_id=release_id, keyid=dsse.key_fingerprint(public_key), deep=deep)
    pointer: StagePointer | None = None
    if channel is not None:
        pointer = pointers.current(stage, channel)
        if pointer is None:
            report.checks.append(
                _fail("pointer", f"{stage}/{channel}", Outcome.MISSING, "the stage has no release of this channel")
            )
            return report
        report.release_id = pointer.release_id
    assert report.release_id is not None
    try:
        release_channel, _ = release_of(report.release_id)
    except ValueError as exc:
        report.checks.append(_fail("pointer", f"{stage}/{channel}", Outcome.MISMATCH, str(exc)))
        return report
    if channel is not None and release_channel != channel:
        detail = f"names {report.release_id}, not a release of channel {channel}"
        report.checks.append(_fail("pointer", f"{stage}/{channel}", Outcome.MISMATCH, detail))
        return report
    statement = _signed_statement(report, bucket, prefix, public_key)
    if statement is None:
        return report
    predicate = statement.predicate
    if pointer is not None:
        report.checks.append(_pointer_check(stage, release_channel, pointer, predicate.stage_manifest, bucket_name))

    checks: list[Callable[[], SubjectCheck]] = [partial(_image_check, registry, i) for i in predicate.images]
    checks += [partial(_archive_check, bucket, a, deep) for a in predicate.archives]
    checks.append(partial(_manifest_check, bucket, predicate.stage_manifest))
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="verify") as pool:
        report.checks += list(pool.map(lambda check: check(), checks))
    return report


def _signed_statement(
    report: VerificationReport, bucket: RecordBucket, prefix: str, public_key: ec.EllipticCurvePublicKey
) -> AdoptionStatement | None:
    """The newest record's statement once its signature, shape, release and stage check out; else None (reported)."""
    assert report.release_id is not None
    try:
        ref = newest_record(bucket, prefix, report.stage, report.release_id)
    except RecordNotFoundError as exc:
        report.checks.append(_fail("record", report.release_id, Outcome.MISSING, str(exc)))
        return None
    report.record_key, report.record_kind = ref.key, ref.kind
    try:
        payload = dsse.verify(read_record(bucket, ref.key), public_key)
        statement = AdoptionStatement.parse(payload)
    except (SignatureError, StatementError) as exc:
        report.checks.append(_fail("record", ref.key, Outcome.MISMATCH, str(exc)))
        return None
    except RecordNotFoundError as exc:
        report.checks.append(_fail("record", ref.key, Outcome.MISSING, str(exc)))
        return None
    predicate = statement.predicate
    report.recorded_at, report.previous_release_id = predicate.recorded_at, predicate.previous_release_id
    problem = _names_it(ref, statement, report.stage, report.release_id)
    if problem:
        report.checks.append(_fail("record", ref.key, Outcome.MISMATCH, problem))
        return None
    report.checks.append(SubjectCheck(kind="record", name=ref.key, outcome=Outcome.OK, detail="signature verified"))
    return statement


def _names_it(ref: RecordRef, statement: AdoptionStatement, stage: str, release_id: str) -> str:
    """Why the signed statement is not the record its key says (empty: it is)."""
    predicate = statement.predicate
    if predicate.upstream.release_id != release_id:
        return f"the signed record is of release {predicate.upstream.release_id}, not {release_id}"
    channel, number = release_of(release_id)
    if (predicate.upstream.channel, predicate.upstream.number) != (channel, number):
        return f"the signed record's channel and number ({predicate.upstream.channel}, {predicate.upstream.number}) disagree with {release_id}"
    if predicate.stage != stage:
        return f"the signed record is of stage {predicate.stage}, not {stage}"
    if predicate.kind is not ref.kind or predicate.recorded_at.strftime(STAMP_FORMAT) != ref.stamp:
        return f"the signed record is a {predicate.kind.value} of {predicate.recorded_at.isoformat()}, not what its key says"
    return ""


def _pointer_check(
    stage: str, channel: str, pointer: StagePointer, manifest: StageManifest, bucket_name: str | None
) -> SubjectCheck:
    name = f"{stage}/{channel}"
    location = urlsplit(pointer.manifest_location)
    if location.scheme != "s3" or location.path.lstrip("/") != manifest.key:
        detail = f"points at {pointer.manifest_location[:300]}, the record's manifest is {manifest.key}"
        return _fail("pointer", name, Outcome.MISMATCH, detail)
    if bucket_name is not None and location.netloc != bucket_name:
        return _fail(
            "pointer", name, Outcome.MISMATCH, f"points into bucket {location.netloc[:100]}, not {bucket_name}"
        )
    return SubjectCheck(kind="pointer", name=name, outcome=Outcome.OK, detail=pointer.release_id)


def _image_check(registry: ManifestDigests, image: AdoptedImage) -> SubjectCheck:
    name = f"{image.name}:{image.tag}"
    reference = ImageReference.parse(image.name)
    if reference.host != registry.host:
        return _fail(
            "image", name, Outcome.UNCHECKED, f"the record names registry {reference.host}, not {registry.host}"
        )
    try:
        tagged = registry.manifest_digest(reference.repository, image.tag)
        if tagged is None:
            return _fail("image", name, Outcome.MISSING, f"tag {image.tag} is not in the registry")
        if tagged != image.digest:
            return _fail(
                "image", name, Outcome.MISMATCH, f"tag {image.tag} names {tagged}, the record says {image.digest}"
            )
        by_digest = registry.manifest_digest(reference.repository, image.digest)
    except (EksdAdoptError, TransientError) as exc:
        return _fail("image", name, Outcome.UNCHECKED, str(exc))
    if by_digest is None:
        return _fail("image", name, Outcome.MISSING, f"{image.digest} is not in the registry")
    if by_digest != image.digest:
        return _fail("image", name, Outcome.MISMATCH, f"{image.digest} is served as {by_digest}")
    return SubjectCheck(kind="image", name=name, outcome=Outcome.OK, detail=image.digest)


def _archive_check(bucket: RecordBucket, archive: AdoptedArchive, deep: bool) -> SubjectCheck:
    try:
        stored = bucket.head(archive.key)
        if stored is None:
            return _fail("archive", archive.key, Outcome.MISSING, "not in the bucket")
        meta = (stored.metadata.get(META_SHA256, "(none)"), stored.metadata.get(META_SHA512, "(none)"))
        if meta != (archive.sha256, archive.sha512):
            return _fail("archive", archive.key, Outcome.MISMATCH, _differs("metadata", meta, archive))
        if deep:
            sha256, sha512 = hashlib.sha256(), hashlib.sha512()
            for chunk in bucket.iter_object(archive.key, REHASH_CHUNK):
                sha256.update(chunk)
                sha512.update(chunk)
            found = (sha256.hexdigest(), sha512.hexdigest())
            if found != (archive.sha256, archive.sha512):
                return _fail("archive", archive.key, Outcome.MISMATCH, _differs("bytes", found, archive))
    except ArchiveMissingError as exc:
        return _fail("archive", archive.key, Outcome.MISSING, str(exc))
    except (EksdAdoptError, TransientError) as exc:
        return _fail("archive", archive.key, Outcome.UNCHECKED, str(exc))
    return SubjectCheck(
        kind="archive", name=archive.key, outcome=Outcome.OK, detail="bytes re-hashed" if deep else "metadata"
    )


def _differs(where: str, found: tuple[str, str], archive: AdoptedArchive) -> str:
    parts = [
        f"{algorithm} {value} in its {where}, the record says {expected}"
        for algorithm, value, expected in (
            ("sha256", found[0], archive.sha256),
            ("sha512", found[1], archive.sha512),
        )
        if value != expected
    ]
    return "; ".join(parts)


def _manifest_check(bucket: RecordBucket, manifest: StageManifest) -> SubjectCheck:
    try:
        stored = bucket.head(manifest.key)
        if stored is None:
            return _fail("manifest", manifest.key, Outcome.MISSING, "not in the bucket")
        if stored.size > MAX_STAGE_MANIFEST_BYTES:
            return _fail("manifest", manifest.key, Outcome.MISMATCH, f"{stored.size} bytes, over any manifest's size")
        body = bucket.get(manifest.key)
    except (EksdAdoptError, TransientError) as exc:
        return _fail("manifest", manifest.key, Outcome.UNCHECKED, str(exc))
    if body is None:
        return _fail("manifest", manifest.key, Outcome.MISSING, "not in the bucket")
    found = hashlib.sha256(body).hexdigest()
    if found != manifest.sha256:
        return _fail("manifest", manifest.key, Outcome.MISMATCH, f"sha256 {found}, the record says {manifest.sha256}")
    return SubjectCheck(kind="manifest", name=manifest.key, outcome=Outcome.OK, detail="re-hashed")


def _fail(
    kind: Literal["record", "pointer", "image", "archive", "manifest"], name: str, outcome: Outcome, detail: str
) -> SubjectCheck:
    return SubjectCheck(kind=kind, name=name, outcome=outcome, detail=detail)
