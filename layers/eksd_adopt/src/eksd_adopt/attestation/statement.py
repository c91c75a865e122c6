"""The adoption record as an in-toto Statement v1: its subjects (every promoted artifact) and its predicate.

The statement follows the in-toto Attestation Framework, Statement layer v1
(https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md): ``_type``, ``subject`` (one
ResourceDescriptor per promoted artifact: ``name`` and a ``digest`` set), ``predicateType`` and
``predicate``. The predicate is ours, versioned by its type URI (:data:`PREDICATE_TYPE`; its JSON Schema
is generated into ``schemas/``): the upstream release, every promoted image and archive with its digests,
what was verified and when, who approved, the stage and the release it replaced, the workflow execution.

The subjects are derived from the predicate and must equal it exactly, so a generic in-toto tool that
reads only the subjects and our verifier that reads the predicate see the same artifacts. Every string
from a record is matched whole against an ASCII-only pattern before use; the payload is serialized
deterministically (sorted keys, no whitespace, ASCII), so the same inputs always give the same bytes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    ValidationError,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from eksd_adopt.attestation.errors import StatementError
from eksd_adopt.reference import ImageReference, ReferenceError
from eksd_adopt.shapes import STAGE

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
# A name for our predicate, not a page: in-toto asks for a TypeURI, which MAY be unresolvable. The JSON
# Schema of v1 is schemas/adoption-record.v1.schema.json; a breaking change makes a /v2 type.
PREDICATE_TYPE = "https://eksd-adopt.dev/adoption-record/v1"
PREDICATE_NAME = "adoption-record"
PREDICATE_VERSION = "1"

MAX_IMAGES = 1000  # a real release has about 17
MAX_ARCHIVES = 5000  # about 45 in a real release
MAX_APPROVALS = 100
MAX_COMMENT = 2000


@dataclass(frozen=True)
class AsciiPattern:
    """A string matched whole against ``regex`` (ASCII classes, ``re.ASCII``), its pattern in the JSON Schema."""

    regex: str
    what: str
    max_length: int

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        compiled = re.compile(self.regex, re.ASCII)

        def check(value: str) -> str:
            if len(value) > self.max_length or not compiled.fullmatch(value):
                raise ValueError(f"{value[:100]!r} is not {self.what}")
            return value

        return core_schema.no_info_after_validator_function(check, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        document = handler(schema)
        document.update(pattern=f"^(?:{self.regex})$", maxLength=self.max_length)
        return document


Sha256Hex = Annotated[str, AsciiPattern(r"[0-9a-f]{64}", "a sha256 hex digest", 64)]
Sha512Hex = Annotated[str, AsciiPattern(r"[0-9a-f]{128}", "a sha512 hex digest", 128)]
ImageDigest = Annotated[str, AsciiPattern(r"sha256:[0-9a-f]{64}", "a sha256 image digest", 71)]
_CHANNEL_PATTERN = r"[1-9][0-9]{0,3}-(?:0|[1-9][0-9]{0,3})"
_STAGE_PATTERN = STAGE.pattern
Channel = Annotated[str, AsciiPattern(_CHANNEL_PATTERN, "a release channel", 9)]
_RELEASE_ID_PATTERN = r"[1-9][0-9]{0,3}-(?:0|[1-9][0-9]{0,3})-[1-9][0-9]{0,18}"
_RELEASE_ID = re.compile(_RELEASE_ID_PATTERN, re.ASCII)
ReleaseId = Annotated[str, AsciiPattern(_RELEASE_ID_PATTERN, "a release id", 29)]
Stage = Annotated[str, AsciiPattern(_STAGE_PATTERN, "a stage name", 32)]
Name = Annotated[str, AsciiPattern(r"[A-Za-z0-9][A-Za-z0-9._/+-]{0,254}", "a component or asset name", 255)]
Tag = Annotated[str, AsciiPattern(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", "an image tag", 128)]
Arch = Annotated[str, AsciiPattern(r"[a-z0-9]{1,16}", "an architecture", 16)]
KubernetesVersion = Annotated[
    str, AsciiPattern(r"v[0-9]{1,4}\.[0-9]{1,4}\.[0-9]{1,4}(?:[-+][0-9A-Za-z.-]{1,64})?", "a version", 80)
]
HttpsUrl = Annotated[
    str, AsciiPattern(r"https://[A-Za-z0-9.-]{1,253}(?::[0-9]{1,5})?/[\x21-\x7e]{0,2000}", "an https URL", 2300)
]
# Object keys as the planner makes them: no leading slash, no empty, dot or dot-dot segment.
ObjectKey = Annotated[
    str,
    AsciiPattern(
        r"[A-Za-z0-9_+=,@~-][A-Za-z0-9._+=,@~-]*(?:/[A-Za-z0-9_+=,@~-][A-Za-z0-9._+=,@~-]*)*", "an object key", 1024
    ),
]
PrincipalArn = Annotated[
    str, AsciiPattern(r"arn:aws[a-z-]{0,16}:(?:iam|sts)::[0-9]{12}:[A-Za-z0-9+=,.@_/-]{1,1024}", "an IAM ARN", 1100)
]
ExecutionArn = Annotated[
    str,
    AsciiPattern(
        r"arn:aws[a-z-]{0,16}:states:[a-z0-9-]{1,32}:[0-9]{12}:execution:[A-Za-z0-9_.-]{1,80}:[A-Za-z0-9_.-]{1,80}",
        "a Step Functions execution ARN",
        300,
    ),
]
FindingId = Annotated[str, AsciiPattern(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}", "a finding id (CVE-...)", 128)]


def _image_name(value: str) -> str:
    """``<registry host>/<repository>``: an image reference without tag or digest."""
    try:
        reference = ImageReference.parse(value)
    except ReferenceError as exc:
        raise ValueError(str(exc)) from exc
    if reference.tag or reference.digest or len(value) > 512:
        raise ValueError(f"{value[:100]!r} is not <registry>/<repository> (no tag, no digest)")
    return value


def _upstream_reference(value: str) -> str:
    try:
        reference = ImageReference.parse(value)
    except ReferenceError as exc:
        raise ValueError(str(exc)) from exc
    if not reference.tag or reference.digest or len(value) > 512:
        raise ValueError(f"{value[:100]!r} is not an upstream image reference with a tag")
    return value


def _comment(value: str) -> str:
    if len(value) > MAX_COMMENT or any(c < " " or c == "\x7f" for c in value):
        raise ValueError(f"a comment is at most {MAX_COMMENT} characters without control characters")
    return value


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)  # one spelling in the payload: ...Z


ImageName = Annotated[str, Field(max_length=512), AfterValidator(_image_name)]
UpstreamReference = Annotated[str, Field(max_length=512), AfterValidator(_upstream_reference)]
Comment = Annotated[str, Field(max_length=MAX_COMMENT), AfterValidator(_comment)]
UtcTime = Annotated[AwareDatetime, AfterValidator(_utc)]


class RecordKind(StrEnum):
    PROMOTION = "promotion"
    ROLLBACK = "rollback"


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UpstreamRelease(_Part):
    """The EKS-D release as upstream published it."""

    release_id: ReleaseId
    channel: Channel
    number: int = Field(ge=1, le=2**63 - 1)
    kubernetes_version: KubernetesVersion | None = None
    manifest_url: HttpsUrl = Field(description="where upstream publishes the release manifest")
    manifest_sha256: Sha256Hex = Field(description="sha256 of the upstream manifest bytes the workflow validated")


class AdoptedImage(_Part):
    """One promoted image: where it came from, where it is, its index digest (the same upstream and here)."""

    component: Name
    asset: Name
    upstream: UpstreamReference = Field(description="upstream reference with its tag")
    name: ImageName = Field(description="<registry>/<repository> in the private registry: the subject's name")
    tag: Tag
    digest: ImageDigest = Field(description="the index digest upstream served, copied byte for byte")
    platforms: tuple[Arch, ...] = ()


class AdoptedArchive(_Part):
    """One promoted archive: its upstream URL, its object key in the bucket and both checksums."""

    component: Name
    asset: Name
    upstream_url: HttpsUrl
    key: ObjectKey = Field(description="object key in the artifacts bucket: the subject's name")
    sha256: Sha256Hex
    sha512: Sha512Hex


class StageManifest(_Part):
    """The release manifest rewritten to the stage's copies: what the stage's pointer names."""

    key: ObjectKey
    sha256: Sha256Hex


class CheckOutcome(_Part):
    """One verification step as the workflow ran it."""

    ok: bool
    checks: int = Field(ge=0)
    failed: int = Field(ge=0)
    completed_at: UtcTime


class Verification(_Part):
    """What was verified before promotion, and when."""

    digests: CheckOutcome = Field(
        description="every staged image index and platform re-checked, every archive re-hashed (sha256, sha512)"
    )
    checksum_files: CheckOutcome | None = Field(
        default=None, description="<file>.sha256/.sha512 and SHA256SUM/SHA512SUM written and checked; null: not run"
    )
    smoke_tests: CheckOutcome
    team_tests: CheckOutcome | None = Field(default=None, description="the team's own test step; null: none set")


class Approval(_Part):
    """One approver's decision (for a rollback: who rolled the stage back)."""

    principal: PrincipalArn = Field(description="the signed caller's ARN")
    counted_as: PrincipalArn | None = Field(default=None, description="whom the approval counts for")
    decided_at: UtcTime
    comment: Comment | None = None
    accepted_findings: tuple[FindingId, ...] = Field(
        default=(), max_length=500, description="findings at or over the stage's threshold acknowledged"
    )


class AdoptionPredicate(_Part):
    """An EKS-D release promoted (or rolled back to) in a stage: every artifact, the checks, the approvals."""

    kind: RecordKind
    recorded_at: UtcTime
    stage: Stage
    previous_release_id: ReleaseId | None = Field(description="the release the stage pointed at before; null: none")
    workflow_execution: ExecutionArn | None = Field(description="the adoption's execution; null for a rollback")
    upstream: UpstreamRelease
    stage_manifest: StageManifest
    images: tuple[AdoptedImage, ...] = Field(max_length=MAX_IMAGES)
    archives: tuple[AdoptedArchive, ...] = Field(max_length=MAX_ARCHIVES)
    verification: Verification
    approvals: tuple[Approval, ...] = Field(max_length=MAX_APPROVALS)

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        names = [i.name for i in self.images] + [a.key for a in self.archives] + [self.stage_manifest.key]
        if len(set(names)) != len(names):
            raise ValueError("an image, archive or the stage manifest is listed twice")
        return self


DigestSet = Annotated[dict[Literal["sha256", "sha512"], str], Field(min_length=1, max_length=2)]
_HEX = {"sha256": re.compile(r"[0-9a-f]{64}", re.ASCII), "sha512": re.compile(r"[0-9a-f]{128}", re.ASCII)}


class ResourceDescriptor(BaseModel):
    """A subject: ``name`` and ``digest`` (other ResourceDescriptor fields are ignored, as in-toto allows)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str = Field(min_length=1, max_length=1024)
    digest: DigestSet

    @model_validator(mode="after")
    def _hex(self) -> Self:
        for algorithm, value in self.digest.items():
            if not _HEX[algorithm].fullmatch(value):
                raise ValueError(f"subject {self.name[:100]!r}: {algorithm} {value[:140]!r} is not a hex digest")
        return self


def subjects_of(predicate: AdoptionPredicate) -> tuple[ResourceDescriptor, ...]:
    """Every artifact the predicate names, as in-toto subjects sorted by name."""
    found = [
        ResourceDescriptor(name=i.name, digest={"sha256": str(i.digest).removeprefix("sha256:")})
        for i in predicate.images
    ]
    found += [
        ResourceDescriptor(name=a.key, digest={"sha256": a.sha256, "sha512": a.sha512}) for a in predicate.archives
    ]
    manifest = predicate.stage_manifest
    found.append(ResourceDescriptor(name=manifest.key, digest={"sha256": manifest.sha256}))
    return tuple(sorted(found, key=lambda s: s.name))


class AdoptionStatement(BaseModel):
    """The in-toto Statement v1 of one adoption record."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    type: Literal["https://in-toto.io/Statement/v1"] = Field(default="https://in-toto.io/Statement/v1", alias="_type")
    subject: tuple[ResourceDescriptor, ...] = Field(min_length=1, max_length=MAX_IMAGES + MAX_ARCHIVES + 1)
    predicate_type: Literal["https://eksd-adopt.dev/adoption-record/v1"] = Field(
        default="https://eksd-adopt.dev/adoption-record/v1", alias="predicateType"
    )
    predicate: AdoptionPredicate

    @model_validator(mode="after")
    def _subjects_are_the_predicates_artifacts(self) -> Self:
        if tuple(sorted(self.subject, key=lambda s: s.name)) != subjects_of(self.predicate):
            raise ValueError("the subjects are not exactly the predicate's images, archives and stage manifest")
        return self

    @classmethod
    def of(cls, predicate: AdoptionPredicate) -> AdoptionStatement:
        return cls(subject=subjects_of(predicate), predicate=predicate)

    def payload(self) -> bytes:
        """The serialized body DSSE signs: sorted keys, no whitespace, ASCII only (non-ASCII text escaped)."""
        document = self.model_dump(mode="json", by_alias=True)
        return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")

    @classmethod
    def parse(cls, payload: bytes) -> AdoptionStatement:
        """A payload read back (after its signature verified), strictly typed; StatementError naming the field."""
        try:
            document = json.loads(payload)
        except (ValueError, RecursionError) as exc:
            raise StatementError(f"the record's payload is not JSON: {exc}") from exc
        if not isinstance(document, dict):
            raise StatementError("the record's payload is not a JSON object")
        kind = document.get("_type")
        if kind != STATEMENT_TYPE:
            raise StatementError(f"_type is {str(kind)[:100]!r}, not {STATEMENT_TYPE}")
        predicate_type = document.get("predicateType")
        if predicate_type != PREDICATE_TYPE:
            raise StatementError(f"predicateType is {str(predicate_type)[:100]!r}, not {PREDICATE_TYPE}")
        try:
            return cls.model_validate_json(payload, strict=True)
        except ValidationError as exc:
            raise StatementError(f"the record is not an adoption record: {_located(exc)}") from exc


def _located(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error["loc"]) or "(statement)"
        parts.append(f"{where}: {error['msg']}")
    more = f" (and {exc.error_count() - 5} more)" if exc.error_count() > 5 else ""
    return "; ".join(parts) + more


def predicate_file_name() -> str:
    return f"{PREDICATE_NAME}.v{PREDICATE_VERSION}.schema.json"


def predicate_schema() -> dict[str, Any]:
    """The predicate's JSON Schema (what a record's ``predicate`` must be), as ``make schemas`` writes it."""
    return AdoptionPredicate.model_json_schema(mode="serialization")


def check_stage(stage: str) -> str:
    """``stage`` when it is a stage name (lower-case ASCII letter first); ValueError otherwise."""
    if not re.fullmatch(_STAGE_PATTERN, stage, re.ASCII):
        raise ValueError(f"{stage[:100]!r} is not a stage name such as prod")
    return stage


def check_channel(channel: str) -> str:
    if not re.fullmatch(_CHANNEL_PATTERN, channel, re.ASCII):
        raise ValueError(f"{channel[:100]!r} is not a release channel such as 1-30")
    return channel


def release_of(release_id: str) -> tuple[str, int]:
    """``1-20-1`` -> (``1-20``, 1); ValueError when it is not a release id."""
    if not _RELEASE_ID.fullmatch(release_id):
        raise ValueError(f"{release_id[:100]!r} is not a release id such as 1-30-58")
    channel, _, number = release_id.rpartition("-")
    return channel, int(number)
