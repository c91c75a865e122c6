"""OCI referrers: list what refers to an image, attach an artifact to it, and mirror upstream's referrers.

A referrer is a manifest whose ``subject`` names another manifest (image-spec 1.1, "subject"): a
signature, an SBOM, an attestation. The distribution spec 1.1 gives registries the referrers API
(``GET /v2/<name>/referrers/<digest>``, an OCI index) and, for registries without it, the referrers
tag schema: clients keep that index themselves under the tag ``<alg>-<hex>`` of the subject's digest
(opencontainers/distribution-spec spec.md, "Listing Referrers", "Pushing Manifests with Subject",
"Unavailable Referrers API", "Referrers Tag Schema"). Support is detected as the spec says: the listing
answers 200 with an index (API) or 404 (no API: read the tag); a pushed manifest with a subject is
answered with ``OCI-Subject`` (the registry lists it) or not (the client updates the tag, read-modify-
write). Amazon ECR serves the referrers API since June 2024 ("Amazon ECR supports Open Container
Initiative Image and Distribution specification version 1.1",
https://aws.amazon.com/about-aws/whats-new/2024/06/amazon-ecr-oci-image-distribution-version-1-1/);
Debian's docker-registry 2.8 answers 404 and keeps the manifests it is given, so it takes the tag schema.

Everything a registry says is checked before use: the index's media type and size, each descriptor's
digest grammar, ``artifactType`` and annotations bounded, a referrer's own ``subject`` equal to the
image's digest, every blob hashed to its digest.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from eksd_adopt.images.client import RegistryClient
from eksd_adopt.images.errors import BlobVerificationError, RegistryError
from eksd_adopt.images.media import OCI_INDEX, OCI_MANIFEST, Descriptor, Manifest, sha256_digest
from eksd_adopt.observability import domain_logger

logger = domain_logger()

EMPTY_MEDIA_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY_BLOB = b"{}"  # image-spec 1.1, "Guidance for an Empty Descriptor": the 2-byte JSON object
MAX_REFERRERS = 128  # per subject, across pages: signatures and SBOMs are a handful
MAX_PAGES = 8
MAX_REFERRER_BLOB = 32 * 1024 * 1024  # an SBOM of a large image is a few MiB; held in memory, so bounded
TAG_SCHEMA_ATTEMPTS = 3
_MEDIA_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}", re.ASCII)
_ANNOTATION_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,254}", re.ASCII)
MAX_ANNOTATIONS = 64
MAX_ANNOTATION_VALUE = 4096


class ListedBy(StrEnum):
    """Where a subject's referrers list lives."""

    API = "referrers-api"
    TAG_SCHEMA = "tag-schema"


@dataclass(frozen=True)
class Referrer:
    """One entry of a referrers list: a manifest's descriptor with its artifact type and annotations."""

    descriptor: Descriptor
    artifact_type: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "mediaType": self.descriptor.media_type,
            "digest": self.descriptor.digest,
            "size": self.descriptor.size,
        }
        if self.artifact_type:
            entry["artifactType"] = self.artifact_type
        if self.annotations:
            entry["annotations"] = dict(self.annotations)
        return entry


def referrers_tag(digest: str) -> str:
    """The referrers tag schema's tag of ``digest``: algorithm (32 characters at most), ``-``, the encoded
    part (64 at most), characters a tag may not hold replaced by ``-``."""
    algorithm, _, encoded = digest.partition(":")
    return re.sub(r"[^A-Za-z0-9_.-]", "-", f"{algorithm[:32]}-{encoded[:64]}")


def list_referrers(client: RegistryClient, repository: str, subject: str) -> tuple[list[Referrer], ListedBy]:
    """What refers to ``subject`` in ``repository``: from the referrers API, or the tag schema when it answers 404."""
    where = f"{client.host}/{repository}: referrers of {subject}"
    page = client.get_referrers(repository, subject)
    if page is None:
        return _tag_schema_list(client, repository, subject, where), ListedBy.TAG_SCHEMA
    found: list[Referrer] = []
    for _ in range(MAX_PAGES):
        if page.media_type != OCI_INDEX:
            raise RegistryError(f"{where}: the referrers API answered {page.media_type[:100]!r}, not an OCI index")
        found += _index_entries(page.body, where, MAX_REFERRERS - len(found))
        if page.next_page is None:
            return found, ListedBy.API
        next_page = client.get_referrers(repository, subject, page=page.next_page)
        if next_page is None:
            raise RegistryError(f"{where}: a next page of the referrers list answered 404")
        page = next_page
    raise RegistryError(f"{where}: more than {MAX_PAGES} pages of referrers")


def _tag_schema_list(client: RegistryClient, repository: str, subject: str, where: str) -> list[Referrer]:
    index = _tag_schema_index(client, repository, subject, where)
    return [] if index is None else _index_entries(index.body, where, MAX_REFERRERS)


def _tag_schema_index(client: RegistryClient, repository: str, subject: str, where: str) -> Manifest | None:
    tag = referrers_tag(subject)
    if client.head_manifest(repository, tag) is None:
        return None
    index = client.get_manifest(repository, tag)
    if index.media_type != OCI_INDEX:
        # The spec: a pull of the tag returning anything but the expected index is a failure to report.
        raise RegistryError(f"{where}: tag {tag} holds a {index.media_type}, not the referrers index")
    return index


def _index_entries(body: bytes, where: str, room: int) -> list[Referrer]:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise RegistryError(f"{where}: the referrers index is not JSON") from exc
    if not isinstance(document, dict) or document.get("mediaType", OCI_INDEX) != OCI_INDEX:
        raise RegistryError(f"{where}: the referrers list is not an OCI image index")
    entries = document.get("manifests") or []
    if not isinstance(entries, list):
        raise RegistryError(f"{where}: the referrers index's manifests is not a list")
    if len(entries) > room:
        raise RegistryError(f"{where}: more than the limit of {MAX_REFERRERS} referrers")
    return [_referrer(entry, where) for entry in entries]


def _referrer(entry: Any, where: str) -> Referrer:
    descriptor = Descriptor.parse(entry, where)
    artifact_type = entry.get("artifactType")
    if artifact_type is not None and (not isinstance(artifact_type, str) or not _MEDIA_TYPE.fullmatch(artifact_type)):
        raise RegistryError(f"{where}: referrer {descriptor.digest} has artifactType {str(artifact_type)[:100]!r}")
    return Referrer(descriptor, artifact_type, _annotations(entry.get("annotations"), f"{where}: {descriptor.digest}"))


def _annotations(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > MAX_ANNOTATIONS:
        raise RegistryError(f"{where}: annotations are not a map of at most {MAX_ANNOTATIONS} entries")
    for key, text in value.items():
        if not _ANNOTATION_KEY.fullmatch(key) or not isinstance(text, str) or len(text) > MAX_ANNOTATION_VALUE:
            raise RegistryError(f"{where}: annotation {str(key)[:100]!r} is not a short string entry")
    return dict(value)


# --- attaching ---------------------------------------------------------------------------------------


def artifact_manifest(
    artifact_type: str,
    layer_media_type: str,
    layer: bytes,
    subject: Descriptor,
    annotations: dict[str, str] | None = None,
) -> tuple[Manifest, dict[str, bytes]]:
    """An OCI 1.1 artifact: an image manifest with ``artifactType``, the empty config, one layer, ``subject``.

    Returns the manifest and the blobs it needs (the 2-byte empty config and the layer). The empty
    descriptor carries no ``data`` field: ECR refuses manifest fields it does not know
    (aws/containers-roadmap#2439), and the field is optional.
    """
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": {"mediaType": EMPTY_MEDIA_TYPE, "digest": sha256_digest(EMPTY_BLOB), "size": len(EMPTY_BLOB)},
        "layers": [{"mediaType": layer_media_type, "digest": sha256_digest(layer), "size": len(layer)}],
        "subject": {"mediaType": subject.media_type, "digest": subject.digest, "size": subject.size},
    }
    if annotations:
        document["annotations"] = dict(sorted(annotations.items()))
    body = json.dumps(document, separators=(",", ":")).encode()
    manifest = Manifest(OCI_MANIFEST, body, sha256_digest(body))
    return manifest, {sha256_digest(EMPTY_BLOB): EMPTY_BLOB, sha256_digest(layer): layer}


def attach(
    client: RegistryClient, repository: str, manifest: Manifest, blobs: dict[str, bytes], subject: Descriptor
) -> ListedBy:
    """Push ``blobs`` and ``manifest`` (a referrer of ``subject``) by digest, and see that it is listed.

    A registry that answers ``OCI-Subject`` lists it itself; otherwise the referrers index under the
    subject's tag is updated (read, add once, write, read back; retried when another writer raced us).
    """
    where = f"{client.host}/{repository}: referrer {manifest.digest} of {subject.digest}"
    document = manifest.document
    if not isinstance(document.get("subject"), dict) or document["subject"].get("digest") != subject.digest:
        raise RegistryError(f"{where}: the manifest's subject is not {subject.digest}")
    for digest, data in blobs.items():
        if sha256_digest(data) != digest:
            raise RegistryError(f"{where}: a blob given as {digest} hashes to {sha256_digest(data)}")
        client.push_blob(repository, data, digest)
    pushed = client.push_manifest(repository, manifest.digest, manifest)
    if pushed.oci_subject is not None:
        if pushed.oci_subject != subject.digest:
            raise RegistryError(f"{where}: the registry answered OCI-Subject {pushed.oci_subject}")
        return ListedBy.API
    entry = Referrer(
        manifest.descriptor(),
        # The spec: the entry's artifactType is the manifest's, else its config's media type.
        document.get("artifactType") or (document.get("config") or {}).get("mediaType"),
        _annotations(document.get("annotations"), where),
    )
    tag = referrers_tag(subject.digest)
    for attempt in range(TAG_SCHEMA_ATTEMPTS + 1):
        current = _tag_schema_index(client, repository, subject.digest, where)
        listed = [] if current is None else _index_entries(current.body, where, MAX_REFERRERS)
        if any(r.descriptor.digest == manifest.digest for r in listed):
            return ListedBy.TAG_SCHEMA
        if attempt == TAG_SCHEMA_ATTEMPTS:
            break
        if len(listed) >= MAX_REFERRERS:
            raise RegistryError(f"{where}: the referrers index already lists {MAX_REFERRERS} manifests")
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [r.as_json() for r in [*listed, entry]]}
        body = json.dumps(index, separators=(",", ":")).encode()
        client.put_manifest(repository, tag, Manifest(OCI_INDEX, body, sha256_digest(body)))
        # No conditional PUT in distribution 2.8: read back, and go again if another writer's index won.
    raise RegistryError(f"{where}: the referrers tag {tag} kept changing under us ({TAG_SCHEMA_ATTEMPTS} attempts)")


# --- mirroring upstream's referrers -------------------------------------------------------------------


def mirror_referrers(
    source: RegistryClient, source_repository: str, root: Manifest, target: RegistryClient, target_repository: str
) -> int:
    """Copy every manifest referring to ``root`` in the source (signatures, SBOMs) to the target; how many.

    Called by the image copier once an image's manifests are in the target and before its tag is: the
    subject is pushed by digest first, so nothing refers to a manifest the target lacks. Only image
    manifests are copied (an index referring to an image is skipped with a warning), one level deep.
    """
    image = f"{source.host}/{source_repository}@{root.digest}"
    referrers, _ = list_referrers(source, source_repository, root.digest)
    if not referrers:
        return 0
    target.put_manifest(target_repository, root.digest, root)
    copied = 0
    for referrer in referrers:
        descriptor = referrer.descriptor
        if descriptor.media_type != OCI_MANIFEST:
            logger.warning(
                "referrer not copied", extra={"image": image, "referrer": descriptor.digest, "why": "not a manifest"}
            )
            continue
        manifest = source.get_manifest(source_repository, descriptor.digest, size=descriptor.size)
        subject = manifest.document.get("subject")
        if not isinstance(subject, dict) or subject.get("digest") != root.digest:
            # A stale or foreign entry in a tag-schema index: it does not refer to this image.
            logger.warning(
                "referrer not copied", extra={"image": image, "referrer": descriptor.digest, "why": "other subject"}
            )
            continue
        blobs: dict[str, bytes] = {}
        for blob in manifest.blobs(f"{image}: referrer {descriptor.digest}"):
            if target.blob_exists(target_repository, blob.digest, blob.size):
                continue
            if source is target:  # promotion: mount it from the staging repository, as the image's blobs
                session = target.mount_blob(target_repository, blob.digest, source_repository)
                if session is None:
                    continue
                target.cancel_upload(target_repository, session)
            blobs[blob.digest] = _read_blob(source, source_repository, blob, image)
        attach(target, target_repository, manifest, blobs, root.descriptor())
        copied += 1
    logger.info("referrers copied", extra={"image": image, "referrers": copied})
    return copied


def _read_blob(client: RegistryClient, repository: str, blob: Descriptor, image: str) -> bytes:
    if blob.size > MAX_REFERRER_BLOB:
        raise RegistryError(f"{image}: referrer blob {blob.digest} of {blob.size} bytes is over {MAX_REFERRER_BLOB}")
    digest = hashlib.sha256()
    parts: list[bytes] = []
    seen = 0
    with client.open_blob(repository, blob.digest, size=blob.size) as chunks:
        for chunk in chunks:
            seen += len(chunk)
            if seen > blob.size:
                raise BlobVerificationError(image, blob.digest, f"more than the {blob.size} bytes its descriptor says")
            digest.update(chunk)
            parts.append(chunk)
    if seen != blob.size or "sha256:" + digest.hexdigest() != blob.digest:
        raise BlobVerificationError(image, blob.digest, f"{seen} bytes hashing to sha256:{digest.hexdigest()}")
    return b"".join(parts)
