"""Checksum files, the write-once manifest, re-verification and promotion, on moto S3."""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from eksd_adopt.archives import (
    ArchiveChecksumError,
    ArchiveMissingError,
    ManifestConflictError,
    manifest_key,
    promote_release_archives,
    rehash_stored_archive,
    store_manifest,
    verify_stored_archive,
    write_checksum_files,
)
from eksd_adopt.archives.s3store import S3ArchiveStore
from eksd_adopt.local.cdn import LocalCdn
from eksd_adopt.workflow.documents import BucketDocuments
from tests.integration.archives.conftest import BUCKET, RELEASE_PATH, make_copier, publish, stored_bytes

NUMBER = 2  # a release of its own: the session CDN is shared with the copier tests
STAGED = f"eksd/staging/{RELEASE_PATH}".replace("/releases/1/", f"/releases/{NUMBER}/")


def _stage(cdn: LocalCdn, store: S3ArchiveStore) -> list[Any]:
    jobs = [
        publish(cdn, "kubernetes-server-linux-amd64.tar.gz", 70_000, number=NUMBER),
        publish(cdn, "bin/linux/amd64/kubectl", 40_000, number=NUMBER),
    ]
    copier = make_copier(store, cdn)
    for job in jobs:
        copier.copy(job)
    return jobs


def test_checksum_files_have_upstreams_layout_and_are_not_rewritten(
    cdn_clean: LocalCdn, store: S3ArchiveStore, s3: Any
) -> None:
    server, kubectl = sorted(_stage(cdn_clean, store), key=lambda j: j.asset)[::-1]
    first = write_checksum_files(store, [server, kubectl])
    assert stored_bytes(s3, f"{STAGED}/kubernetes-server-linux-amd64.tar.gz.sha256").decode() == (
        f"{server.sha256}  kubernetes-server-linux-amd64.tar.gz\n"
    )
    assert stored_bytes(s3, f"{STAGED}/bin/linux/amd64/kubectl.sha512").decode() == f"{kubectl.sha512}  kubectl\n"
    assert stored_bytes(s3, f"{STAGED}/SHA256SUM").decode() == (
        f"{kubectl.sha256}  bin/linux/amd64/kubectl\n{server.sha256}  kubernetes-server-linux-amd64.tar.gz\n"
    )
    assert (
        f"{server.sha512}  kubernetes-server-linux-amd64.tar.gz\n" in stored_bytes(s3, f"{STAGED}/SHA512SUM").decode()
    )
    assert len(first.written) == 6 and not first.unchanged
    again = write_checksum_files(store, [server, kubectl])
    assert not again.written and len(again.unchanged) == 6


@pytest.mark.reliability(
    area="archives", fault="a different manifest for a stored release", expected="ManifestConflictError"
)
def test_manifest_is_write_once(store: S3ArchiveStore, s3: Any) -> None:
    key = manifest_key("eksd", "staging", "1-20", NUMBER)
    assert key == "eksd/staging/kubernetes-1-20/kubernetes-1-20-eks-2.yaml"
    assert store_manifest(store, key, b"kind: Release\n").created
    assert not store_manifest(store, key, b"kind: Release\n").created
    with pytest.raises(ManifestConflictError, match="different manifest"):
        store_manifest(store, key, b"kind: Release\nspec: {}\n")
    assert stored_bytes(s3, key) == b"kind: Release\n"


@pytest.mark.reliability(
    area="archives", fault="stored archive altered after the copy", expected="verify raises ArchiveChecksumError"
)
def test_verify_rehashes_stored_bytes_and_checks_metadata(cdn_clean: LocalCdn, store: S3ArchiveStore, s3: Any) -> None:
    job = _stage(cdn_clean, store)[0]
    check = verify_stored_archive(store, job)
    assert check.rehashed and check.bytes == 70_000
    assert rehash_stored_archive(store, job.target_key) == (job.sha256, job.sha512)
    # Same metadata, other bytes: only the streamed re-hash can see it.
    s3.put_object(
        Bucket=BUCKET, Key=job.target_key, Body=b"tampered", Metadata={"sha256": job.sha256, "sha512": job.sha512}
    )
    verify_stored_archive(store, job, rehash=False)
    with pytest.raises(ArchiveChecksumError, match="in the stored bytes"):
        verify_stored_archive(store, job)
    s3.delete_object(Bucket=BUCKET, Key=job.target_key)
    with pytest.raises(ArchiveMissingError):
        verify_stored_archive(store, job)


def test_promotion_copies_server_side_and_is_idempotent(cdn_clean: LocalCdn, store: S3ArchiveStore, s3: Any) -> None:
    jobs = _stage(cdn_clean, store)
    write_checksum_files(store, jobs)
    store_manifest(store, manifest_key("eksd", "staging", "1-20", NUMBER), b"kind: Release\n")
    requests_before = len(cdn_clean.requests)
    result = promote_release_archives(
        store, prefix="eksd", channel="1-20", number=NUMBER, from_stage="staging", to_stage="prod"
    )
    assert len(result.copied) == 2 + 6 + 1 and not result.unchanged
    assert len(cdn_clean.requests) == requests_before  # nothing fetched again
    for job in jobs:
        prod = job.model_copy(update={"target_key": job.target_key.replace("/staging/", "/prod/")})
        verify_stored_archive(store, prod)
    assert stored_bytes(s3, "eksd/prod/kubernetes-1-20/kubernetes-1-20-eks-2.yaml") == b"kind: Release\n"
    again = promote_release_archives(
        store, prefix="eksd", channel="1-20", number=NUMBER, from_stage="staging", to_stage="prod"
    )
    assert not again.copied and len(again.unchanged) == 9


def test_promotion_refuses_a_conflicting_manifest_in_the_target_stage(
    cdn_clean: LocalCdn, store: S3ArchiveStore, s3: Any
) -> None:
    _stage(cdn_clean, store)
    store_manifest(store, manifest_key("eksd", "staging", "1-20", NUMBER), b"kind: Release\n")
    store_manifest(store, manifest_key("eksd", "prod", "1-20", NUMBER), b"kind: Release\nother: 1\n")
    with pytest.raises(ManifestConflictError):
        promote_release_archives(
            store, prefix="eksd", channel="1-20", number=NUMBER, from_stage="staging", to_stage="prod"
        )
    assert not s3.list_objects_v2(Bucket=BUCKET, Prefix="eksd/prod/kubernetes-1-20/releases/").get("Contents")


def test_promotion_of_an_unstaged_release_is_refused(store: S3ArchiveStore) -> None:
    with pytest.raises(ArchiveMissingError, match="not staged"):
        promote_release_archives(store, prefix="eksd", channel="1-20", number=9, from_stage="staging", to_stage="prod")


WRITERS = 6


def _hold_puts_until_all_writers_send(client: Any, writers: int) -> None:
    """Every writer's PutObject waits until all have sent theirs: the writes race as hard as they can."""
    barrier, held = threading.Barrier(writers, timeout=20), itertools.count()

    def hold(**_: Any) -> None:
        if next(held) < writers:
            barrier.wait()

    client.meta.events.register("before-call.s3.PutObject", hold)


@pytest.mark.reliability(
    area="archives",
    fault="six writers race to store different documents under one write-once key",
    expected="one is stored; the other five get ManifestConflictError; the stored bytes are the winner's",
)
def test_racing_write_once_writers_store_one_document_and_refuse_the_rest(s3: Any) -> None:
    documents = BucketDocuments(BUCKET, lambda bucket: S3ArchiveStore(bucket, client=s3))
    key = "eksd/upstream/kubernetes-1-20/kubernetes-1-20-eks-9.plan.json"
    _hold_puts_until_all_writers_send(s3, WRITERS)

    def write(n: int) -> str:
        try:
            documents.put(key, f"writer {n}".encode(), write_once=True, content_type="application/json")
        except ManifestConflictError:
            return "refused"
        return f"writer {n}"

    with ThreadPoolExecutor(WRITERS) as pool:
        outcomes = list(pool.map(write, range(WRITERS)))
    (winner,) = [o for o in outcomes if o != "refused"]
    assert outcomes.count("refused") == WRITERS - 1
    assert stored_bytes(s3, key) == winner.encode()


@pytest.mark.reliability(
    area="archives",
    fault="S3 answers a conditional create 409 ConditionalRequestConflict (a conflicting operation under way)",
    expected="the create is sent again and stores the manifest (a 409 says nothing about the key)",
)
def test_a_conflicting_operation_answer_is_retried_not_taken_for_an_existing_manifest(
    store: S3ArchiveStore, s3: Any
) -> None:
    conflicts = itertools.count()

    def conflict_once(params: dict[str, Any], **_: Any) -> Any:
        if params.get("headers", {}).get("If-None-Match") == "*" and next(conflicts) == 0:
            error = {"Code": "ConditionalRequestConflict", "Message": "A conflicting operation is in progress."}
            return AWSResponse("https://s3.local", 409, {}, None), {
                "Error": error,
                "ResponseMetadata": {"HTTPStatusCode": 409},
            }
        return None

    s3.meta.events.register("before-call.s3.PutObject", conflict_once)
    key = manifest_key("eksd", "staging", "1-20", 11)
    stored = store_manifest(store, key, b"kind: Release\n")
    assert next(conflicts) == 2  # the 409, then the create that went through
    assert stored.created and stored_bytes(s3, key) == b"kind: Release\n"
