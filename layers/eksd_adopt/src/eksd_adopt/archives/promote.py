"""Promotion of a staged release's archives to another stage: server-side copies, no bytes through us."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from eksd_adopt.archives.errors import ArchiveMissingError, ArchiveStoreError
from eksd_adopt.archives.manifests import check_manifest, manifest_key
from eksd_adopt.archives.store import ArchiveStore
from eksd_adopt.plan import stage_key_prefix


class PromotionResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    copied: tuple[str, ...]  # target keys
    unchanged: tuple[str, ...]  # already present with the same digests


def promote_archive(store: ArchiveStore, source_key: str, target_key: str) -> bool:
    """Copy one object to ``target_key`` unless it is there with the same digests; True when copied.

    The copy keeps the sha256/sha512 metadata, and is checked against it afterwards.
    """
    source = store.head(source_key)
    if source is None or not source.sha256:
        raise ArchiveMissingError(f"{source_key}: not in the bucket (or not written by the mirror)")
    target = store.head(target_key)
    if target is not None and (target.sha256, target.sha512) == (source.sha256, source.sha512):
        return False
    store.copy(source_key, target_key)
    copied = store.head(target_key)
    if copied is None or (copied.size, copied.sha256, copied.sha512) != (source.size, source.sha256, source.sha512):
        raise ArchiveStoreError(f"{target_key}: the copy of {source_key} does not match it")
    return True


def promote_release_archives(
    store: ArchiveStore, *, prefix: str, channel: str, number: int, from_stage: str, to_stage: str
) -> PromotionResult:
    """Copy everything under the staged release (archives, checksum files) and its manifest to ``to_stage``.

    The manifest goes last and write-once: a different manifest already in the target stage is
    refused (:class:`ManifestConflictError`) before anything is copied.
    """
    source_prefix = stage_key_prefix(prefix, from_stage, channel, number)
    target_prefix = stage_key_prefix(prefix, to_stage, channel, number)
    source_manifest = manifest_key(prefix, from_stage, channel, number)
    target_manifest = manifest_key(prefix, to_stage, channel, number)
    manifest = store.get(source_manifest)
    if manifest is None:
        raise ArchiveMissingError(f"{source_manifest}: the staged manifest is missing; the release is not staged")
    check_manifest(store, target_manifest, manifest)
    keys = store.list_keys(source_prefix)
    if not keys:
        raise ArchiveMissingError(f"{source_prefix}: no staged archives")
    copied: list[str] = []
    unchanged: list[str] = []
    for key in [*keys, source_manifest]:
        target = target_manifest if key == source_manifest else target_prefix + key.removeprefix(source_prefix)
        (copied if promote_archive(store, key, target) else unchanged).append(target)
    return PromotionResult(copied=tuple(copied), unchanged=tuple(unchanged))
