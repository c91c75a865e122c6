"""The archive copier against a hostile CDN or job: a trickling body meets a deadline, a refused URL is never requested.

Real parts: the loopback CDN (its TRICKLE fault), moto S3, and a listener on 127.0.0.2 that a refused
job must never reach.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from eksd_adopt.archives.errors import ArchiveUnavailableError
from eksd_adopt.archives.s3store import S3ArchiveStore
from eksd_adopt.deadline import TransferDeadline
from eksd_adopt.errors import FetchError
from eksd_adopt.local.cdn import Fault, LocalCdn
from eksd_adopt.local.faultproxy import ConnectionSentinel
from tests.integration.archives.conftest import bucket_is_empty, make_copier, publish, url_path


@pytest.fixture
def refused_host() -> Iterator[ConnectionSentinel]:
    with ConnectionSentinel("127.0.0.2") as listener:
        yield listener


@pytest.mark.reliability(
    area="archives",
    fault="CDN trickles the archive one byte every 50 ms after 1 KB (each byte resets the read timeout)",
    expected="ArchiveUnavailableError at allowance + size/min_throughput (socket shut); bucket empty",
)
def test_a_trickled_archive_hits_the_whole_copy_deadline(
    cdn_clean: LocalCdn, store: S3ArchiveStore, s3: Any, observed: Callable[[str], None]
) -> None:
    job = publish(cdn_clean, "kube-scheduler", 300_000)  # 4 hours at this pace
    cdn_clean.inject(Fault.TRICKLE, path=url_path(job), times=None, after_bytes=1000, delay=0.05)
    copier = make_copier(store, cdn_clean, timeout=5.0, deadline=TransferDeadline(min_throughput=50_000, allowance=1.0))
    with pytest.raises(ArchiveUnavailableError, match=r"not done within 7 s \(300000 bytes") as info:
        copier.copy(job)
    assert bucket_is_empty(s3)
    gets = [r for r in cdn_clean.requests if r.path == url_path(job) and r.method == "GET"]
    assert len(gets) == 1  # the deadline is the whole copy's: no retry or resume starts the clock again
    observed(str(info.value))


def test_a_steady_archive_well_above_the_floor_is_copied(cdn_clean: LocalCdn, store: S3ArchiveStore) -> None:
    job = publish(cdn_clean, "kube-proxy-steady", 200_000)
    cdn_clean.inject(Fault.SLOW, path=url_path(job), after_bytes=100_000, delay=0.3)
    copier = make_copier(store, cdn_clean, deadline=TransferDeadline(min_throughput=1024, allowance=5.0))
    assert copier.copy(job).bytes == 200_000


@pytest.mark.reliability(
    area="archives",
    fault="job URL on 127.0.0.2 (plain, userinfo, tab in the host) or with %2e%2e in the path",
    expected="refused before any request: no connection to 127.0.0.2, no request to the CDN",
)
@pytest.mark.parametrize(
    "url",
    [
        "https://{sentinel}/kubernetes-1-20/releases/1/artifacts/x",
        "https://distro.eks.amazonaws.com@{sentinel}/kubernetes-1-20/releases/1/artifacts/x",
        "https://{sentinel}\t.distro.eks.amazonaws.com/kubernetes-1-20/releases/1/artifacts/x",
        "https://distro.eks.amazonaws.com/kubernetes-1-20/releases/1/artifacts/%2e%2e/%2e%2e/x",
        "https://distro.eks.amazonaws.com/kubernetes-1-20/releases/1/artifacts/a\\..\\x",
    ],
)
def test_a_refused_job_url_is_never_requested(
    cdn_clean: LocalCdn, store: S3ArchiveStore, s3: Any, refused_host: ConnectionSentinel, url: str
) -> None:
    job = publish(cdn_clean, "kubectl-refused", 1000)
    job = job.model_copy(update={"source_url": url.format(sentinel=f"{refused_host.host}:{refused_host.port}")})
    with pytest.raises(FetchError, match="refusing"):
        make_copier(store, cdn_clean).copy(job)
    assert refused_host.connections == 0
    assert cdn_clean.requests == []
    assert bucket_is_empty(s3)
