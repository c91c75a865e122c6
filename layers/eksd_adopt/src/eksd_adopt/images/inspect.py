"""Read a stored image back: its index and every platform manifest with the config's os/architecture."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict

from eksd_adopt.images.client import RegistryClient
from eksd_adopt.images.errors import BlobVerificationError, RegistryError
from eksd_adopt.images.media import Descriptor, sha256_digest

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
        manifest = client.get_manifest(repository, entry.digest, size=entry.size) if entry else root
        if manifest.is_index:
            raise RegistryError(f"{repository}@{digest}: nested index {manifest.digest} is not a platform image")
        where = f"{repository}@{manifest.digest}"
        config, *layers = manifest.blobs(where)
        if config.size > MAX_CONFIG_BYTES:
            raise RegistryError(f"{where}: config of {config.size} bytes is too large to inspect")
        document = _read_config(client, repository, config, where)
        platform = (entry.platform if entry else None) or {}
        platforms.append(
            StoredPlatform(
                os=_text(platform.get("os")) or _text(document.get("os")) or "",
                architecture=_text(platform.get("architecture")) or _text(document.get("architecture")) or "",
                variant=_text(platform.get("variant")),
                manifest_digest=manifest.digest,
                media_type=manifest.media_type,
                config_digest=config.digest,
                config_os=_text(document.get("os")),
                config_architecture=_text(document.get("architecture")),
                layers=len(layers),
                layer_bytes=sum(layer.size for layer in layers),
            )
        )
    return StoredImage(
        repository=repository, digest=root.digest, media_type=root.media_type, platforms=tuple(platforms)
    )


def _read_config(client: RegistryClient, repository: str, config: Descriptor, where: str) -> dict[str, Any]:
    """The config blob, at most its descriptor's size read, checked against its digest, a JSON object."""
    data = bytearray()
    with client.open_blob(repository, config.digest, size=config.size) as chunks:
        for chunk in chunks:
            data += chunk
            if len(data) > config.size:
                raise BlobVerificationError(
                    where, config.digest, f"more than the {config.size} bytes its descriptor says"
                )
    if sha256_digest(bytes(data)) != config.digest:
        raise BlobVerificationError(where, config.digest, "the stored config does not hash to its digest")
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise RegistryError(f"{where}: config {config.digest} is not JSON") from exc
    if not isinstance(document, dict):
        raise RegistryError(f"{where}: config {config.digest} is not a JSON object")
    return document


def _text(value: object) -> str | None:
    """A platform field as text: a short string, or nothing (a registry's other types are not guessed at)."""
    return value if isinstance(value, str) and len(value) <= 128 else None
