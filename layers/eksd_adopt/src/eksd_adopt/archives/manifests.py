"""The release manifest, stored write-once beside its staged archives (as upstream never overwrites one)."""

from __future__ import annotations

import hashlib

from pydantic import BaseModel, ConfigDict

from eksd_adopt.archives.errors import ManifestConflictError
from eksd_adopt.archives.store import META_SHA256, ArchiveStore

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
    existing = store.get(key)
    if existing is None:
        return False
    if existing != manifest:
        raise ManifestConflictError(
            f"{key} already holds a different manifest (stored sha256 {hashlib.sha256(existing).hexdigest()}, "
            f"new sha256 {hashlib.sha256(manifest).hexdigest()}); release manifests are written once"
        )
    return True


def store_manifest(store: ArchiveStore, key: str, manifest: bytes) -> StoredManifest:
    """Store ``manifest`` at ``key`` unless it is there; the same bytes again are fine, other bytes are refused."""
    digest = hashlib.sha256(manifest).hexdigest()
    if store.put_if_absent(key, manifest, metadata={META_SHA256: digest}, content_type=_YAML):
        return StoredManifest(key=key, sha256=digest, created=True)
    check_manifest(store, key, manifest)
    return StoredManifest(key=key, sha256=digest, created=False)
