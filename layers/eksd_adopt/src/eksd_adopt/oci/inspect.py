"""Read a stored image back: its index and every platform manifest with the config's os/architecture."""

from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict

from eksd_adopt.oci.client import RegistryClient
from eksd_adopt.oci.errors import BlobVerificationError, RegistryError
from eksd_adopt.oci.media import Descriptor, sha256_digest

MAX_CONFIG_BYTES = 4 * 1024 * 1024


class StoredPlatform(BaseModel):
    """One platform manifest of a stored image, as its index entry and its config describe it."""

    model_config = ConfigDict(frozen=True)

    os: str
    architecture: str
    variant: str | None = None
    manifest_digest: str
    media_type: str
    config_digest: str
    config_os: str | None
    config_architecture: str | None
    layers: int
    layer_bytes: int


class StoredImage(BaseModel):
    model_config = ConfigDict(frozen=True)

    repository: str
    digest: str
    media_type: str
    platforms: tuple[StoredPlatform, ...]

    @property
    def is_index(self) -> bool:
        return len(self.platforms) != 1 or self.media_type.endswith(("index.v1+json", "list.v2+json"))


def inspect_image(client: RegistryClient, repository: str, digest: str) -> StoredImage:
    """The image at ``digest`` (index or single manifest), every manifest and config checked against its digest."""
    root = client.get_manifest(repository, digest)
    entries: list[Descriptor | None] = list(root.children(f"{repository}@{digest}")) if root.is_index else [None]
    platforms = []
    for entry in entries:
        manifest = client.get_manifest(repository, entry.digest) if entry else root
        if manifest.is_index:
            raise RegistryError(f"{repository}@{digest}: nested index {manifest.digest} is not a platform image")
        where = f"{repository}@{manifest.digest}"
        config, *layers = manifest.blobs(where)
        if config.size > MAX_CONFIG_BYTES:
            raise RegistryError(f"{where}: config of {config.size} bytes is too large to inspect")
        with client.open_blob(repository, config.digest) as chunks:
            data = b"".join(chunks)
        if sha256_digest(data) != config.digest:
            raise BlobVerificationError(where, config.digest, "the stored config does not hash to its digest")
        document = json.loads(data)
        platform = (entry.platform if entry else None) or {}
        platforms.append(
            StoredPlatform(
                os=str(platform.get("os") or document.get("os") or ""),
                architecture=str(platform.get("architecture") or document.get("architecture") or ""),
                variant=platform.get("variant"),
                manifest_digest=manifest.digest,
                media_type=manifest.media_type,
                config_digest=config.digest,
                config_os=document.get("os"),
                config_architecture=document.get("architecture"),
                layers=len(layers),
                layer_bytes=sum(layer.size for layer in layers),
            )
        )
    return StoredImage(
        repository=repository, digest=root.digest, media_type=root.media_type, platforms=tuple(platforms)
    )
