"""Attaching a signed record to each promoted image index, as an OCI referrer a registry client can discover.

The referrer is an OCI 1.1 artifact: an image manifest with ``artifactType``
``application/vnd.dsse.envelope.v1+json``, the empty config, one layer holding the envelope (the same
JSON line as the bucket's record), and ``subject`` = the image index. ``oras discover`` or
``GET /v2/<repo>/referrers/<digest>`` find it beside the image; annotations say which release, stage
and kind of record it is, so a consumer can filter without reading the layer.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from eksd_adopt.attestation.dsse import ENVELOPE_MEDIA_TYPE
from eksd_adopt.attestation.errors import AttestationError
from eksd_adopt.attestation.ports import ReferrerTarget
from eksd_adopt.attestation.statement import PREDICATE_TYPE, AdoptionStatement
from eksd_adopt.images.referrers import artifact_manifest
from eksd_adopt.reference import ImageReference

ANNOTATION_PREFIX = "dev.eksd-adopt"


class AttachedRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    image: str  # <registry>/<repository>@<index digest>
    referrer: str  # the referrer manifest's digest
    listed_by: str  # referrers-api | tag-schema


def record_annotations(statement: AdoptionStatement) -> dict[str, str]:
    predicate = statement.predicate
    return {
        "org.opencontainers.image.created": predicate.recorded_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "in-toto.io/predicate-type": PREDICATE_TYPE,
        f"{ANNOTATION_PREFIX}.release-id": predicate.upstream.release_id,
        f"{ANNOTATION_PREFIX}.stage": predicate.stage,
        f"{ANNOTATION_PREFIX}.kind": predicate.kind.value,
    }


def attach_record(
    target: ReferrerTarget, registry_host: str, statement: AdoptionStatement, envelope: bytes
) -> list[AttachedRecord]:
    """Attach ``envelope`` (a record's JSON line) to every image ``statement`` names, in ``registry_host``."""
    attached = []
    annotations = record_annotations(statement)
    for image in statement.predicate.images:
        reference = ImageReference.parse(image.name)
        if reference.host != registry_host:
            raise AttestationError(f"{image.name}: the record names registry {reference.host}, not {registry_host}")
        subject = target.subject(reference.repository, image.digest)
        if subject.digest != image.digest:
            raise AttestationError(f"{image.name}: the registry served {subject.digest} for {image.digest}")
        manifest, blobs = artifact_manifest(ENVELOPE_MEDIA_TYPE, ENVELOPE_MEDIA_TYPE, envelope, subject, annotations)
        listed_by = target.attach(reference.repository, manifest, blobs, subject)
        attached.append(
            AttachedRecord(image=f"{image.name}@{image.digest}", referrer=manifest.digest, listed_by=listed_by)
        )
    return attached
