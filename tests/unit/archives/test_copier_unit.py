"""The copier's logic without sockets: an httpx MockTransport as the CDN, the in-memory store as the bucket."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import httpx
import pytest

from eksd_adopt.archives.copier import ArchiveCopier, check_job
from eksd_adopt.archives.errors import ArchiveChecksumError, InvalidArchiveJobError
from eksd_adopt.archives.store import InMemoryArchiveStore
from eksd_adopt.errors import FetchError
from eksd_adopt.plan import ArchiveCopyJob
from eksd_adopt.retry import RetryPolicy

HOST = "distro.eks.amazonaws.com"
DATA = hashlib.shake_256(b"archive").digest(3 * 1024 * 1024 + 5)
MIB = 1024 * 1024
PART = 64 * 1024


def _job(data: bytes = DATA, **update: str) -> ArchiveCopyJob:
    job = ArchiveCopyJob(
        component="kubernetes",
        asset="kubectl",
        source_url=f"https://{HOST}/kubernetes-1-20/releases/1/artifacts/kubernetes/v1.20.4/bin/linux/amd64/kubectl",
        sha256=hashlib.sha256(data).hexdigest(),
        sha512=hashlib.sha512(data).hexdigest(),
        target_key="eksd/staging/kubernetes-1-20/releases/1/artifacts/kubernetes/v1.20.4/bin/linux/amd64/kubectl",
    )
    return job.model_copy(update=update)


class _CutStream(httpx.SyncByteStream):
    """A body that stops with a protocol error after ``cut`` bytes, like a dropped connection."""

    def __init__(self, data: bytes, cut: int) -> None:
        self.data, self.cut = data, cut

    def __iter__(self) -> Iterator[bytes]:
        yield self.data[: self.cut]
        raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")


def _copier(handler: httpx.MockTransport, store: InMemoryArchiveStore, **kwargs: object) -> ArchiveCopier:
    return ArchiveCopier(
        store,
        allowed_hosts=[HOST],
        client=httpx.Client(transport=handler),
        retry=RetryPolicy(attempts=3, initial_backoff=0.001, max_backoff=0.002),
        part_size=PART,
        **kwargs,  # type: ignore[arg-type]
    )


def test_parts_are_uploaded_in_order_and_reassemble_the_archive() -> None:
    store = InMemoryArchiveStore()
    result = _copier(httpx.MockTransport(lambda r: httpx.Response(200, stream=httpx.ByteStream(DATA))), store).copy(
        _job()
    )
    assert store.get(_job().target_key) == DATA
    assert result.bytes == len(DATA) and not result.resumed
    assert store.head(_job().target_key).sha512 == _job().sha512  # type: ignore[union-attr]


def test_resume_sends_range_from_the_received_byte_and_keeps_hash_state() -> None:
    ranges: list[str | None] = []

    def cdn(request: httpx.Request) -> httpx.Response:
        ranges.append(request.headers.get("range"))
        if len(ranges) == 1:
            return httpx.Response(
                200, headers={"content-length": str(len(DATA))}, stream=_CutStream(DATA, MIB + MIB // 2)
            )
        start = int(request.headers["range"].removeprefix("bytes=").rstrip("-"))
        return httpx.Response(
            206,
            headers={"content-range": f"bytes {start}-{len(DATA) - 1}/{len(DATA)}"},
            stream=httpx.ByteStream(DATA[start:]),
        )

    store = InMemoryArchiveStore()
    result = _copier(httpx.MockTransport(cdn), store).copy(_job())
    # The copier reads 1 MiB at a time: what arrived before the cut, in whole reads, is kept.
    assert ranges == [None, f"bytes={MIB}-"]
    assert result.resumed and store.get(_job().target_key) == DATA


def test_a_206_from_the_wrong_offset_restarts_from_zero() -> None:
    calls: list[str | None] = []

    def cdn(request: httpx.Request) -> httpx.Response:
        calls.append(request.headers.get("range"))
        if len(calls) == 1:
            return httpx.Response(200, stream=_CutStream(DATA, MIB + 100))
        if len(calls) == 2:  # a confused server: 206 but from byte 10
            return httpx.Response(
                206,
                headers={"content-range": f"bytes 10-{len(DATA) - 1}/{len(DATA)}"},
                stream=httpx.ByteStream(DATA[10:]),
            )
        return httpx.Response(200, stream=httpx.ByteStream(DATA))

    store = InMemoryArchiveStore()
    result = _copier(httpx.MockTransport(cdn), store).copy(_job())
    assert calls == [None, f"bytes={MIB}-", None]
    assert store.get(_job().target_key) == DATA and not result.resumed


def test_mismatch_leaves_no_object_and_no_upload() -> None:
    store = InMemoryArchiveStore()
    bad = DATA[:-1] + b"\x00"
    with pytest.raises(ArchiveChecksumError, match="kubectl: checksum mismatch") as info:
        _copier(httpx.MockTransport(lambda r: httpx.Response(200, stream=httpx.ByteStream(bad))), store).copy(_job())
    assert info.value.actual_sha256 == hashlib.sha256(bad).hexdigest()
    assert store.objects == {} and store.uploads == {}


def test_archive_over_the_size_limit_is_refused_while_reading() -> None:
    store = InMemoryArchiveStore()
    with pytest.raises(FetchError, match="limit"):
        _copier(
            httpx.MockTransport(lambda r: httpx.Response(200, stream=httpx.ByteStream(DATA))), store, max_bytes=2 * MIB
        ).copy(_job())
    assert store.objects == {} and store.uploads == {}


@pytest.mark.parametrize(
    ("update", "message"),
    [
        ({"sha256": "ABC"}, "sha256 'ABC' is not a lower-case hex digest"),
        ({"sha512": "0" * 127}, "sha512"),
        ({"target_key": "eksd/staging/../prod/x"}, "not a clean object key"),
        ({"target_key": "/eksd/staging/x"}, "not a clean object key"),
        ({"target_key": "eksd/prod/x"}, "outside the allowed prefix"),
    ],
)
def test_bad_jobs_are_refused_before_any_request(update: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidArchiveJobError, match=message.replace("(", r"\(").replace(".", r"\.")):
        check_job(_job(**update), allowed_hosts=[HOST], key_prefix="eksd/staging")
