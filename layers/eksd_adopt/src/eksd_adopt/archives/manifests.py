"""The release manifest, stored write-once beside its staged archives (as upstream never overwrites one)."""

from __future__ import annotations

import hashlib

from pydantic import BaseModel, ConfigDict

from eksd_adopt.archives.store import ArchiveStore, put_once, same_as_stored

_YAML = "application/yaml"


class StoredManifest(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str
    sha256: str
    created: bool  # False: the identical manifest was already there


def manifest_key(prefix: str, stage: str, channel: str, number: int) -> str:
    """``<prefix>/<stage>/kubernetes-<ch>/kubernetes-<ch>-eks-<N>.yaml``, upstream's path under the stage."""
    return "/".join(
        p for p in (prefix.strip("/"), stage, f"kubernetes-{channel}", f"kubernetes-{channel}-eks-{number}.yaml") if p
    )


def check_manifest(store: ArchiveStore, key: str, manifest: bytes) -> bool:
    """True when ``key`` already holds exactly ``manifest``, False when absent; :class:`ManifestConflictError` otherwise.

    Lets a caller refuse a conflicting manifest before copying anything.
    """
    return same_as_stored(store, key, manifest, what="manifest")


def store_manifest(store: ArchiveStore, key: str, manifest: bytes) -> StoredManifest:
    """Store ``manifest`` at ``key`` unless it is there; the same bytes again are fine, other bytes are refused."""
    created = put_once(store, key, manifest, content_type=_YAML, what="manifest")
    return StoredManifest(key=key, sha256=hashlib.sha256(manifest).hexdigest(), created=created)
