"""The archive copier against a real loopback CDN and moto S3: clean copies, skips, and every CDN fault.

Every fault either recovers (the object is byte-identical to the source) or fails cleanly with a
domain error and nothing left in the bucket: no object, no unfinished multipart upload.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from eksd_adopt.archives.errors import ArchiveChecksumError, ArchiveUnavailableError
from eksd_adopt.archives.s3store import S3ArchiveStore
from eksd_adopt.errors import FetchError, UpstreamNotFoundError
from eksd_adopt.local.cdn import Fault, LocalCdn
from eksd_adopt.plan import ArchiveCopyJob
from tests.integration.archives.conftest import (
    BUCKET,
    MIB,
    bucket_is_empty,
    make_copier,
    publish,
    source_bytes,
    stored_bytes,
    url_path,
)

BIG = 11 * MIB  # three 5 MiB parts: 5 + 5 + 1


def _gets(cdn: LocalCdn, job: ArchiveCopyJob) -> list[tuple[int, str | None]]:
    return [(r.status, r.range) for r in cdn.requests if r.path == url_path(job) and r.method == "GET"]


def test_multipart_copy_is_byte_identical_with_both_digests_as_metadata(
    cdn_clean: LocalCdn, store: S3ArchiveStore, s3: Any
) -> None:
    job = publish(cdn_clean, "kubernetes-server-linux-amd64.tar.gz", BIG)
    result = make_copier(store, cdn_clean).copy(job)
    assert (result.bytes, result.skipped, result.resumed) == (BIG, False, False)
    assert (result.sha256, result.sha512) == (job.sha256, job.sha512)
    assert stored_bytes(s3, job.target_key) == source_bytes(cdn_clean, job)
    head = s3.head_object(Bucket=BUCKET, Key=job.target_key)
    assert head["Metadata"] == {"sha256": job.sha256, "sha512": job.sha512}
    assert head["ETag"].strip('"').endswith("-3")  # three parts: 5 + 5 + 1 MiB
    assert not s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads")


def test_small_archive_is_one_put_and_a_second_copy_is_skipped_without_download(
    cdn_clean: LocalCdn, store: S3ArchiveStore, s3: Any
) -> None:
    job = publish(cdn_clean, "kube-proxy", 300_000)
    copier = make_copier(store, cdn_clean)
    first = copier.copy(job)
    second = copier.copy(job)
    assert stored_bytes(s3, job.target_key) == source_bytes(cdn_clean, job)
    assert (first.skipped, second.skipped, second.bytes) == (False, True, 300_000)
    assert len(_gets(cdn_clean, job)) == 1  # the skip was decided by HEAD alone


def test_object_with_other_checksums_is_replaced(cdn_clean: LocalCdn, store: S3ArchiveStore, s3: Any) -> None:
    job = publish(cdn_clean, "kubectl", 100_000)
    s3.put_object(Bucket=BUCKET, Key=job.target_key, Body=b"stale", Metadata={"sha256": "0" * 64, "sha512": "0" * 128})
    result = make_copier(store, cdn_clean).copy(job)
    assert not result.skipped
    assert stored_bytes(s3, job.target_key) == source_bytes(cdn_clean, job)


@pytest.mark.reliability(
    area="archives", fault="CDN body cut short mid-archive", expected="resumed with Range, verified"
)
@pytest.mark.parametrize("fault", [Fault.TRUNCATE, Fault.RESET])
def test_interrupted_download_resumes_with_range_into_the_same_upload(
    cdn_clean: LocalCdn, store: S3ArchiveStore, s3: Any, fault: Fault, observed: Callable[[str], None]
) -> None:
    job = publish(cdn_clean, "kubernetes-node-linux-amd64.tar.gz", BIG)
    cut = 7 * MIB + 123  # after the first part went up
    cdn_clean.inject(fault, path=url_path(job), after_bytes=cut)
    result = make_copier(store, cdn_clean).copy(job)
    gets = _gets(cdn_clean, job)
    assert gets[0] == (200, None)
    assert gets[1][0] == 206 and gets[1][1] is not None
    resumed_at = int(gets[1][1].removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_at <= cut
    assert result.resumed and result.bytes == BIG
    assert stored_bytes(s3, job.target_key) == source_bytes(cdn_clean, job)
    observed(f"{fault.value} at byte {cut}: resumed with Range bytes={resumed_at}-, object verified")


@pytest.mark.reliability(area="archives", fault="CDN ignores Range after a cut", expected="restarted from byte 0")
def test_server_ignoring_range_restarts_from_the_first_byte(
    cdn_clean: LocalCdn, store: S3ArchiveStore, s3: Any, observed: Callable[[str], None]
) -> None:
    job = publish(cdn_clean, "kubernetes-client-linux-amd64.tar.gz", BIG)
    cdn_clean.inject(Fault.TRUNCATE, path=url_path(job), after_bytes=6 * MIB)
    cdn_clean.inject(Fault.IGNORE_RANGE, path=url_path(job))
    result = make_copier(store, cdn_clean).copy(job)
    assert [status for status, _ in _gets(cdn_clean, job)] == [200, 200]
    assert result.bytes == BIG and not result.resumed
    assert stored_bytes(s3, job.target_key) == source_bytes(cdn_clean, job)
    observed("second GET answered 200 to a Range: hashes and parts reset, object verified")


@pytest.mark.reliability(area="archives", fault="CDN answers 500 twice", expected="retried with backoff, copied")
def test_5xx_is_retried(cdn_clean: LocalCdn, store: S3ArchiveStore, s3: Any, observed: Callable[[str], None]) -> None:
    job = publish(cdn_clean, "etcd-linux-amd64.tar.gz", 200_000)
    cdn_clean.inject(Fault.ERROR_500, path=url_path(job), times=2, retry_after=0)
    result = make_copier(store, cdn_clean).copy(job)
    assert [s for s, _ in _gets(cdn_clean, job)] == [500, 500, 200]
    assert stored_bytes(s3, job.target_key) == source_bytes(cdn_clean, job) and not result.skipped
    observed("500, 500, 200: copied")


@pytest.mark.reliability(
    area="archives", fault="CDN answers 500 on every try", expected="ArchiveUnavailableError, bucket empty"
)
def test_persistent_5xx_fails_cleanly(
    cdn_clean: LocalCdn, store: S3ArchiveStore, s3: Any, observed: Callable[[str], None]
) -> None:
    job = publish(cdn_clean, "etcd-linux-arm64.tar.gz", 200_000)
    cdn_clean.inject(Fault.ERROR_500, path=url_path(job), times=None)
    with pytest.raises(ArchiveUnavailableError, match=r"etcd-linux-arm64\.tar\.gz") as info:
        make_copier(store, cdn_clean).copy(job)
    assert len(_gets(cdn_clean, job)) == 3
    assert bucket_is_empty(s3)
    observed(str(info.value))


@pytest.mark.reliability(
    area="archives",
    fault="connection cut on every try, mid multipart",
    expected="ArchiveUnavailableError, upload aborted",
)
def test_repeated_cuts_without_progress_abort_the_multipart_upload(
    cdn_clean: LocalCdn, store: S3ArchiveStore, s3: Any, observed: Callable[[str], None]
) -> None:
    job = publish(cdn_clean, "kubernetes-src.tar.gz", BIG)
    path = url_path(job)
    # The first GET gets past the first part; every later one dies before sending a byte.
    cdn_clean.inject(Fault.RESET, path=path, after_bytes=6 * MIB)
    cdn_clean.inject(Fault.RESET, path=path, after_bytes=0, times=None)
    with pytest.raises(ArchiveUnavailableError, match="gave up after retries") as info:
        make_copier(store, cdn_clean).copy(job)
    assert bucket_is_empty(s3)
    observed(str(info.value))


@pytest.mark.reliability(
    area="archives", fault="CDN flips one byte in the second part", expected="ArchiveChecksumError, upload aborted"
)
def test_wrong_bytes_fail_with_both_digests_named_and_nothing_stored(
    cdn_clean: LocalCdn, store: S3ArchiveStore, s3: Any, observed: Callable[[str], None]
) -> None:
    job = publish(cdn_clean, "kube-apiserver.tar", BIG)
    cdn_clean.inject(Fault.WRONG_BYTES, path=url_path(job), after_bytes=8 * MIB)
    with pytest.raises(ArchiveChecksumError) as info:
        make_copier(store, cdn_clean).copy(job)
    error = info.value
    assert error.artifact == "kube-apiserver.tar"
    assert error.expected_sha256 == job.sha256 and error.actual_sha256 != job.sha256
    assert error.expected_sha512 == job.sha512 and error.actual_sha512 != job.sha512
    for digest in (job.sha256, error.actual_sha256, job.sha512, error.actual_sha512):
        assert digest in str(error)
    assert bucket_is_empty(s3)
    observed(str(error)[:160] + "…")


@pytest.mark.reliability(
    area="archives", fault="wrong bytes in a small archive", expected="ArchiveChecksumError, no put"
)
def test_wrong_bytes_in_small_archive_store_nothing(
    cdn_clean: LocalCdn, store: S3ArchiveStore, s3: Any, observed: Callable[[str], None]
) -> None:
    job = publish(cdn_clean, "aws-iam-authenticator", 50_000)
    cdn_clean.inject(Fault.WRONG_BYTES, path=url_path(job), after_bytes=0)
    with pytest.raises(ArchiveChecksumError, match="aws-iam-authenticator: checksum mismatch"):
        make_copier(store, cdn_clean).copy(job)
    assert bucket_is_empty(s3)
    observed("refused before PutObject")


@pytest.mark.reliability(area="archives", fault="CDN stalls past the read timeout", expected="resumed after timeout")
def test_stall_past_read_timeout_resumes(
    cdn_clean: LocalCdn, store: S3ArchiveStore, s3: Any, observed: Callable[[str], None]
) -> None:
    job = publish(cdn_clean, "coredns.tar", 2 * MIB)
    cdn_clean.inject(Fault.SLOW, path=url_path(job), after_bytes=MIB, delay=1.5)
    result = make_copier(store, cdn_clean, timeout=0.5).copy(job)
    assert result.resumed
    assert stored_bytes(s3, job.target_key) == source_bytes(cdn_clean, job)
    observed(f"read timeout after {MIB} bytes, resumed: {[r for _, r in _gets(cdn_clean, job)]}")


def test_slow_but_within_timeout_needs_no_retry(cdn_clean: LocalCdn, store: S3ArchiveStore, s3: Any) -> None:
    job = publish(cdn_clean, "pause.tar", MIB)
    cdn_clean.inject(Fault.SLOW, path=url_path(job), after_bytes=1000, delay=0.2)
    result = make_copier(store, cdn_clean, timeout=2.0).copy(job)
    assert not result.resumed and len(_gets(cdn_clean, job)) == 1
    assert stored_bytes(s3, job.target_key) == source_bytes(cdn_clean, job)


@pytest.mark.reliability(
    area="archives", fault="archive not on the CDN (404)", expected="UpstreamNotFoundError, no retry"
)
def test_missing_archive_is_not_found(cdn_clean: LocalCdn, store: S3ArchiveStore, s3: Any) -> None:
    job = publish(cdn_clean, "present", 10).model_copy(
        update={"source_url": f"https://distro.eks.amazonaws.com/{'x' * 8}"}
    )
    with pytest.raises(UpstreamNotFoundError, match="HTTP 404"):
        make_copier(store, cdn_clean).copy(job)
    assert bucket_is_empty(s3)


@pytest.mark.reliability(
    area="archives", fault="archive URL on a host off the allow-list / plain http", expected="refused before connecting"
)
@pytest.mark.parametrize("url", ["https://evil.example/kubernetes-1-20/x", "http://distro.eks.amazonaws.com/x"])
def test_url_off_policy_is_refused_before_any_request(
    cdn_clean: LocalCdn, store: S3ArchiveStore, s3: Any, url: str
) -> None:
    job = publish(cdn_clean, "refused", 10).model_copy(update={"source_url": url})
    with pytest.raises(FetchError, match="refusing"):
        make_copier(store, cdn_clean).copy(job)
    assert cdn_clean.requests == [] and bucket_is_empty(s3)


def test_copies_run_concurrently_within_the_bound(cdn_clean: LocalCdn, store: S3ArchiveStore, s3: Any) -> None:
    from eksd_adopt.archives.copier import copy_archives

    jobs = [publish(cdn_clean, f"bin-{i}", 100_000 + i) for i in range(6)]
    jobs.append(
        jobs[0].model_copy(update={"asset": "broken", "sha256": "0" * 64, "target_key": jobs[0].target_key + "-b"})
    )
    outcomes = copy_archives(make_copier(store, cdn_clean), jobs, concurrency=3)
    assert [type(e).__name__ if e else "ok" for _, _, e in outcomes] == ["ok"] * 6 + ["ArchiveChecksumError"]
    for job in jobs[:6]:
        assert stored_bytes(s3, job.target_key) == source_bytes(cdn_clean, job)
    assert not s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads")
