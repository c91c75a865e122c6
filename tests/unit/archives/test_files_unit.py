"""Checksum files, the write-once manifest, the dual hasher, settings and the progress-aware retry."""

from __future__ import annotations

import hashlib
import os

import pytest
from pydantic import ValidationError

from eksd_adopt.archives import InMemoryArchiveStore, ManifestConflictError, store_manifest
from eksd_adopt.archives.checksums import artifact_folder, checksum_files
from eksd_adopt.archives.hashing import DualHasher
from eksd_adopt.archives.settings import MirrorArchiveSettings
from eksd_adopt.plan import ArchiveCopyJob
from eksd_adopt.retry import RetryPolicy, TransientError

R = "eksd/staging/kubernetes-1-20/releases/1/artifacts"


def _job(key: str, digest: str) -> ArchiveCopyJob:
    return ArchiveCopyJob(
        component="c",
        asset=key.rsplit("/", 1)[1],
        source_url="https://x/y",
        sha256=digest * 64,
        sha512=digest * 128,
        target_key=key,
    )


def test_artifact_folder_is_project_and_tag() -> None:
    assert artifact_folder(f"{R}/kubernetes/v1.20.4/bin/linux/amd64/kubectl") == f"{R}/kubernetes/v1.20.4/"
    assert artifact_folder(f"{R}/etcd/v3.4.14/etcd-linux-amd64-v3.4.14.tar.gz") == f"{R}/etcd/v3.4.14/"
    assert artifact_folder("eksd/x/file.tar") == "eksd/x/"


def test_checksum_files_match_upstreams_format() -> None:
    files = checksum_files(
        [
            _job(f"{R}/kubernetes/v1.20.4/kubernetes-src.tar.gz", "b"),
            _job(f"{R}/kubernetes/v1.20.4/bin/linux/amd64/kubectl", "a"),
        ]
    )
    assert files[f"{R}/kubernetes/v1.20.4/bin/linux/amd64/kubectl.sha256"] == f"{'a' * 64}  kubectl\n"
    assert files[f"{R}/kubernetes/v1.20.4/SHA512SUM"] == (
        f"{'a' * 128}  bin/linux/amd64/kubectl\n{'b' * 128}  kubernetes-src.tar.gz\n"
    )
    assert len(files) == 6


def test_manifest_write_once_in_memory() -> None:
    store = InMemoryArchiveStore()
    assert store_manifest(store, "k.yaml", b"a").created
    assert not store_manifest(store, "k.yaml", b"a").created
    with pytest.raises(ManifestConflictError, match=hashlib.sha256(b"b").hexdigest()):
        store_manifest(store, "k.yaml", b"b")


def test_dual_hasher_matches_hashlib_and_resets() -> None:
    data = [os.urandom(n) for n in (1, 70_000, 3, 1 << 20)]
    with DualHasher(backlog=2) as hasher:
        hasher.update(b"garbage")
        hasher.reset()
        for chunk in data:
            hasher.update(chunk)
        joined = b"".join(data)
        assert hasher.hexdigests() == (hashlib.sha256(joined).hexdigest(), hashlib.sha512(joined).hexdigest())


def test_settings_from_env() -> None:
    settings = MirrorArchiveSettings.from_env(
        {"ARCHIVE_BUCKET": "bkt", "EKSD_ADOPT_ENDPOINTS": "distro.eks.amazonaws.com=http://127.0.0.1:9", "OTHER": "x"}
    )
    assert settings.part_size == 16 * 1024 * 1024
    assert settings.endpoint_map.map_url("https://distro.eks.amazonaws.com/a") == "http://127.0.0.1:9/a"
    with pytest.raises(ValidationError, match="ARCHIVE_PART_SIZE_MIB"):
        MirrorArchiveSettings.from_env({"ARCHIVE_BUCKET": "bkt", "ARCHIVE_PART_SIZE_MIB": "4"})
    with pytest.raises(ValidationError, match="HOST=URL"):
        MirrorArchiveSettings.from_env({"ARCHIVE_BUCKET": "bkt", "EKSD_ADOPT_ENDPOINTS": "nohost"})
    with pytest.raises(ValidationError, match="ARCHIVE_BUCKET"):
        MirrorArchiveSettings.from_env({})


def test_retrying_with_progress_counts_only_stalled_attempts() -> None:
    state = {"received": 0, "calls": 0}

    def attempt() -> None:
        state["calls"] += 1
        if state["calls"] <= 6:  # six failures, each after some progress
            state["received"] += 10
            raise TransientError("cut")

    policy = RetryPolicy(attempts=3, initial_backoff=0.0001, max_backoff=0.0002)
    for try_ in policy.retrying_with_progress(lambda: state["received"]):
        with try_:
            attempt()
    assert state["calls"] == 7
    stalled = {"calls": 0}

    def no_progress() -> None:
        stalled["calls"] += 1
        raise TransientError("cut")

    with pytest.raises(TransientError):
        for try_ in policy.retrying_with_progress(lambda: 0):
            with try_:
                no_progress()
    assert stalled["calls"] == 3
