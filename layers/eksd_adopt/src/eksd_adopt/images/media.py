"""OCI and Docker v2 media types, descriptors and the parts of manifests the copier reads, strictly typed and bounded.

Everything here comes from a registry, so nothing is used before it is checked: a descriptor's digest
must match the OCI digest grammar (it goes into request paths), its size must be a plain integer
within what a registry can hold, and a manifest is bounded in bytes, children and blobs.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from eksd_adopt.images.errors import RegistryError
from eksd_adopt.reference import is_digest

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"

INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
ACCEPT = ", ".join((OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST))

# The distribution spec asks registries and clients to handle manifests of at least 4 megabytes
# (opencontainers/distribution-spec spec.md, "Pushing Manifests"); containerd and docker read no more.
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
# An index lists one entry per platform (EKS-D: 2; the widest public images, ~10 platforms with an
# attestation each, about 20): 128 is generous and still bounds the requests one index can cause.
MAX_INDEX_CHILDREN = 128
# docker refuses images of more than 127 layers (overlay2's limit); four times that is room for OCI
# artifacts and still bounds the HEADs and GETs one manifest can cause.
MAX_MANIFEST_BLOBS = 512
# ECR's largest layer: 52,000 MiB (https://docs.aws.amazon.com/AmazonECR/latest/userguide/service-quotas.html,
# "Maximum layer size"); a descriptor claiming more cannot be copied there and is refused.
MAX_BLOB_BYTES = 52_000 * 1024 * 1024
_MEDIA_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}", re.ASCII)


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class Descriptor:
    """What a manifest says about a blob or child manifest: media type, digest, size."""

    media_type: str
    digest: str
    size: int
    platform: dict[str, Any] | None = None

    @classmethod
    def parse(cls, data: Any, where: str) -> Descriptor:
        if not isinstance(data, dict):
            raise RegistryError(f"{where}: a descriptor is not a JSON object: {_shown(data)}")
        digest, size, media_type = data.get("digest"), data.get("size"), data.get("mediaType", "")
        if not is_digest(digest):
            if is_digest(digest, algorithms=("sha512",)):
                raise RegistryError(f"{where}: descriptor digest {digest} is sha512; only sha256 is copied")
            raise RegistryError(f"{where}: descriptor digest {_shown(digest)} is not a sha256 digest")
        # bool is an int in Python; JSON true is no size.
        if type(size) is not int or not 0 <= size <= MAX_BLOB_BYTES:
            raise RegistryError(
                f"{where}: descriptor {digest} has size {_shown(size)}, not an integer from 0 to {MAX_BLOB_BYTES}"
            )
        if not isinstance(media_type, str) or (media_type and not _MEDIA_TYPE.fullmatch(media_type)):
            raise RegistryError(f"{where}: descriptor {digest} has media type {_shown(media_type)}")
        platform = data.get("platform")
        if platform is not None and not isinstance(platform, dict):
            raise RegistryError(f"{where}: descriptor {digest} has a platform that is not a JSON object")
        return cls(media_type, str(digest), size, platform)


@dataclass(frozen=True, slots=True)
class Manifest:
    """A manifest exactly as the registry served it: the bytes are what gets pushed, never a re-encoding."""

    media_type: str
    body: bytes
    digest: str

    @classmethod
    def from_bytes(cls, body: bytes, media_type: str | None, where: str) -> Manifest:
        if len(body) > MAX_MANIFEST_BYTES:
            raise RegistryError(f"{where}: manifest of {len(body)} bytes is over the {MAX_MANIFEST_BYTES}-byte limit")
        document = _load(body, where)
        declared = document.get("mediaType")
        if declared is not None and not isinstance(declared, str):
            raise RegistryError(f"{where}: manifest mediaType is not a string")
        kind = (media_type or "").split(";")[0].strip()
        if kind not in INDEX_TYPES | MANIFEST_TYPES:
            # Some registries answer application/json; the body's own mediaType then decides.
            kind = declared or ("" if "manifests" not in document else OCI_INDEX)
        elif declared and declared != kind:
            # The spec: clients SHOULD reject a manifest whose mediaType differs from its Content-Type.
            raise RegistryError(f"{where}: served as {kind} but its mediaType says {_shown(declared)}")
        if kind not in INDEX_TYPES | MANIFEST_TYPES:
            raise RegistryError(f"{where}: unsupported manifest media type {_shown(kind)}")
        return cls(kind, body, sha256_digest(body))

    def descriptor(self) -> Descriptor:
        return Descriptor(self.media_type, self.digest, len(self.body))

    @property
    def document(self) -> dict[str, Any]:
        return _load(self.body, self.digest)

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    def children(self, where: str) -> list[Descriptor]:
        """An index's platform manifests (at most MAX_INDEX_CHILDREN)."""
        entries = self.document.get("manifests") or []
        if not isinstance(entries, list):
            raise RegistryError(f"{where}: index manifests is not a list")
        if len(entries) > MAX_INDEX_CHILDREN:
            raise RegistryError(
                f"{where}: index lists {len(entries)} manifests, over the limit of {MAX_INDEX_CHILDREN} per index"
            )
        return [Descriptor.parse(item, where) for item in entries]

    def blobs(self, where: str) -> list[Descriptor]:
        """A platform manifest's config and layers (config first; at most MAX_MANIFEST_BLOBS in all)."""
        document = self.document
        if "config" not in document:
            raise RegistryError(f"{where}: image manifest without a config")
        layers = document.get("layers") or []
        if not isinstance(layers, list):
            raise RegistryError(f"{where}: image manifest layers is not a list")
        if len(layers) + 1 > MAX_MANIFEST_BLOBS:
            raise RegistryError(
                f"{where}: image manifest lists {len(layers)} layers, over the limit of {MAX_MANIFEST_BLOBS - 1}"
            )
        return [Descriptor.parse(document["config"], where)] + [Descriptor.parse(item, where) for item in layers]


def _load(body: bytes, where: str) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:  # RecursionError: nesting deeper than the parser's stack
        raise RegistryError(f"{where}: manifest is not JSON") from exc
    if not isinstance(document, dict):
        raise RegistryError(f"{where}: manifest is not a JSON object")
    return document


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 100 else text[:100] + "..."
