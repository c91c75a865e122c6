"""OCI and Docker v2 media types, descriptors and the parts of manifests the copier reads."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from eksd_adopt.oci.errors import RegistryError

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"

INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
ACCEPT = ", ".join((OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST))


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
        try:
            digest, size = data["digest"], int(data["size"])
        except (KeyError, TypeError, ValueError) as exc:
            raise RegistryError(f"{where}: descriptor without digest/size: {data!r}") from exc
        if not isinstance(digest, str) or not digest.startswith("sha256:") or len(digest) != 71 or size < 0:
            raise RegistryError(f"{where}: unsupported descriptor digest {digest!r} (sha256 only)")
        return cls(str(data.get("mediaType", "")), digest, size, data.get("platform"))


@dataclass(frozen=True, slots=True)
class Manifest:
    """A manifest exactly as the registry served it: the bytes are what gets pushed, never a re-encoding."""

    media_type: str
    body: bytes
    digest: str

    @classmethod
    def from_bytes(cls, body: bytes, media_type: str | None, where: str) -> Manifest:
        try:
            document = json.loads(body)
        except ValueError as exc:
            raise RegistryError(f"{where}: manifest is not JSON") from exc
        if not isinstance(document, dict):
            raise RegistryError(f"{where}: manifest is not a JSON object")
        kind = (media_type or "").split(";")[0].strip() or str(document.get("mediaType", ""))
        if not kind or kind not in INDEX_TYPES | MANIFEST_TYPES:
            # Some registries answer application/json; the body's own mediaType then decides.
            kind = str(document.get("mediaType", "")) or ("" if "manifests" not in document else OCI_INDEX)
        if kind not in INDEX_TYPES | MANIFEST_TYPES:
            raise RegistryError(f"{where}: unsupported manifest media type {kind!r}")
        return cls(kind, body, sha256_digest(body))

    def descriptor(self) -> Descriptor:
        return Descriptor(self.media_type, self.digest, len(self.body))

    @property
    def document(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    def children(self, where: str) -> list[Descriptor]:
        """An index's platform manifests."""
        return [Descriptor.parse(item, where) for item in self.document.get("manifests") or []]

    def blobs(self, where: str) -> list[Descriptor]:
        """A platform manifest's config and layers (config first)."""
        document = self.document
        if "config" not in document:
            raise RegistryError(f"{where}: image manifest without a config")
        return [Descriptor.parse(document["config"], where)] + [
            Descriptor.parse(item, where) for item in document.get("layers") or []
        ]
