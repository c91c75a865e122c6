"""The full findings document of a release: every platform image's scan and the delta, stored write-once in the bucket.

It sits beside the staged manifest (``<prefix>/staging/kubernetes-<ch>/kubernetes-<ch>-eks-<N>.findings.json``)
so the next release's delta can be taken against it, and the state and events carry only its
location, digest and a bounded summary (:mod:`eksd_adopt.findings.summary`). The same scans give
the same bytes (sorted, no wall-clock time in it), so a retried step rewrites nothing; different
results for the same release are refused rather than overwriting what approvers may have seen.
"""

from __future__ import annotations

import hashlib
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from eksd_adopt.archives.manifests import manifest_key
from eksd_adopt.findings.delta import FindingsDelta
from eksd_adopt.findings.errors import FindingsDocumentError
from eksd_adopt.findings.model import ImageScan
from eksd_adopt.findings.ports import FindingsDocuments

STAGING = "staging"
CONTENT_TYPE = "application/json"
# 20 platform images of 20,000 findings of ~150 bytes is ~60 MB; real releases are far below a MiB.
# Reading is bounded all the same: a document over this is refused, never parsed.
MAX_DOCUMENT_BYTES = 64 * 1024 * 1024
SCHEMA_VERSION: Literal[1] = 1


class ReleaseFindings(BaseModel):
    """Every platform image's scan of one release, and its delta against the release the stage ran."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = SCHEMA_VERSION
    release_id: str = Field(min_length=1, max_length=100, pattern=r"^[0-9]+-[0-9]+-[0-9]+$")
    # Where the delta's baseline came from; "unrecorded": the stage runs a release with no findings document.
    baseline: Literal["none", "stored", "rescanned", "unrecorded"] = "none"
    scans: tuple[ImageScan, ...]
    delta: FindingsDelta

    @model_validator(mode="after")
    def _one_scan_per_platform_image(self) -> ReleaseFindings:
        seen: set[tuple[str, str]] = set()
        for scan in self.scans:
            key = (scan.target.image, scan.target.platform)
            if key in seen:
                raise ValueError(f"{key[0]} {key[1]} is scanned twice")
            seen.add(key)
        return self

    @property
    def complete(self) -> bool:
        """Every platform image's scan completed."""
        return all(s.complete for s in self.scans)

    def body(self) -> bytes:
        """The document's bytes: deterministic for the same scans."""
        return self.model_dump_json().encode()


class FindingsRef(BaseModel):
    """Where a release's findings document is and its digest (what the state and the approval request keep)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    location: str = Field(min_length=1, max_length=1100)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")  # pydantic matches with Rust regex: $ is the very end


def findings_key(prefix: str, channel: str, number: int) -> str:
    """``<prefix>/staging/kubernetes-<ch>/kubernetes-<ch>-eks-<N>.findings.json``, beside the staged manifest."""
    return manifest_key(prefix, STAGING, channel, number).removesuffix(".yaml") + ".findings.json"


def store_findings(
    findings: ReleaseFindings, documents: FindingsDocuments, *, prefix: str, channel: str, number: int
) -> FindingsRef:
    """Write the document write-once beside the staged manifest; its location and sha256."""
    if findings.release_id != f"{channel}-{number}":
        raise FindingsDocumentError(f"findings of {findings.release_id} cannot be stored as release {channel}-{number}")
    body = findings.body()
    location = documents.put(findings_key(prefix, channel, number), body, write_once=True, content_type=CONTENT_TYPE)
    return FindingsRef(location=location, sha256=hashlib.sha256(body).hexdigest())


def load_findings(
    location: str, documents: FindingsDocuments, *, release_id: str | None = None, sha256: str | None = None
) -> ReleaseFindings:
    """A stored findings document, refused (FindingsDocumentError) when too large, altered or another release's."""
    body = documents.get(location)
    if len(body) > MAX_DOCUMENT_BYTES:
        raise FindingsDocumentError(f"{location} is {len(body)} bytes, over the {MAX_DOCUMENT_BYTES} a document may be")
    if sha256 is not None and hashlib.sha256(body).hexdigest() != sha256:
        raise FindingsDocumentError(f"{location} does not hash to {sha256}: it changed after it was written")
    try:
        findings = ReleaseFindings.model_validate_json(body, strict=False)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
        raise FindingsDocumentError(f"{location} is not a findings document: {problems}") from exc
    if release_id is not None and findings.release_id != release_id:
        raise FindingsDocumentError(f"{location} holds the findings of {findings.release_id}, not {release_id}")
    return findings
