"""The checksum files upstream publishes beside its archives, written for a staged release.

``<file>.sha256`` / ``<file>.sha512`` hold ``<hex>  <file name>``; ``SHA256SUM`` / ``SHA512SUM`` in
each artifact folder (``artifacts/<project>/<tag>/``) hold ``<hex>  <path relative to the folder>``,
one line per archive, sorted. The values come from the validated manifest, which the copier has
already checked every stored byte against.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from posixpath import basename

from pydantic import BaseModel, ConfigDict

from eksd_adopt.archives.errors import InvalidArchiveJobError
from eksd_adopt.archives.store import META_SHA256, ArchiveStore
from eksd_adopt.plan import ArchiveCopyJob

_TEXT = "text/plain; charset=utf-8"


class ChecksumFilesResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    written: tuple[str, ...]
    unchanged: tuple[str, ...]


def artifact_folder(key: str) -> str:
    """The folder whose SHA256SUM lists ``key``: ``.../artifacts/<project>/<tag>/``, else the key's parent."""
    head, marker, rest = key.rpartition("/artifacts/")
    parts = rest.split("/") if marker else []
    if len(parts) >= 3:
        return f"{head}/artifacts/{parts[0]}/{parts[1]}/"
    return key.rsplit("/", 1)[0] + "/"


def checksum_files(jobs: Iterable[ArchiveCopyJob]) -> dict[str, str]:
    """Key -> text of every checksum file for these archives."""
    files: dict[str, str] = {}
    sums: dict[tuple[str, str], list[str]] = {}
    for job in sorted(jobs, key=lambda j: j.target_key):
        if job.target_key.endswith((".sha256", ".sha512")) or basename(job.target_key) in ("SHA256SUM", "SHA512SUM"):
            raise InvalidArchiveJobError(f"{job.asset}: archive key {job.target_key!r} collides with a checksum file")
        folder = artifact_folder(job.target_key)
        relative = job.target_key.removeprefix(folder)
        for algorithm, digest in (("sha256", job.sha256), ("sha512", job.sha512)):
            files[f"{job.target_key}.{algorithm}"] = f"{digest}  {basename(job.target_key)}\n"
            sums.setdefault((folder, algorithm), []).append(f"{digest}  {relative}\n")
    for (folder, algorithm), lines in sums.items():
        files[f"{folder}{algorithm.upper()}SUM"] = "".join(sorted(lines, key=lambda line: line.split("  ", 1)[1]))
    return dict(sorted(files.items()))


def write_checksum_files(store: ArchiveStore, jobs: Iterable[ArchiveCopyJob]) -> ChecksumFilesResult:
    """Write (or leave, when identical) every checksum file for a release's staged archives."""
    written: list[str] = []
    unchanged: list[str] = []
    for key, text in checksum_files(jobs).items():
        body = text.encode()
        digest = hashlib.sha256(body).hexdigest()
        existing = store.head(key)
        if existing is not None and existing.sha256 == digest:
            unchanged.append(key)  # the bucket is versioned: an identical rewrite would only add a version
            continue
        store.put(key, body, metadata={META_SHA256: digest}, content_type=_TEXT)
        written.append(key)
    return ChecksumFilesResult(written=tuple(written), unchanged=tuple(unchanged))
