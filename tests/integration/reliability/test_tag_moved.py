"""An upstream tag that moves to another digest between plan and copy, or during the copy.

With the manifest's ``imageDigest`` the copy is refused before anything is pushed. Without one, the
copier resolves the tag once and copies exactly that digest, whatever the tag names afterwards.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import httpx
import pytest

from eksd_adopt.images.errors import ImageDigestMismatchError
from eksd_adopt.local.faultproxy import FaultProxy
from eksd_adopt.local.images import publish_image
from eksd_adopt.local.registry import LocalRegistry
from tests.integration.images.conftest import job_for, make_copier

pytestmark = pytest.mark.xdist_group("reliability")
INDEX = "application/vnd.oci.image.index.v1+json"


def target_digest(target: LocalRegistry, repository: str, tag: str) -> str | None:
    response = httpx.head(f"{target.url}/v2/{repository}/manifests/{tag}", headers={"Accept": INDEX})
    return response.headers.get("docker-content-digest") if response.status_code == 200 else None


@pytest.mark.reliability(
    area="images",
    fault="upstream tag moved to another digest after the plan recorded imageDigest",
    expected="refused with both digests named; no blob fetched, nothing pushed",
)
def test_tag_moved_after_the_plan_is_refused_and_nothing_is_pushed(
    upstream: LocalRegistry, target: LocalRegistry, name: str, observed: Callable[[str], None]
) -> None:
    planned = publish_image(upstream.url, name, "v1", seed="planned")
    job = job_for(name, planned)  # the plan keeps the manifest's imageDigest
    moved = publish_image(upstream.url, name, "v1", seed="moved", layer_sizes=[1000, 5000])
    assert moved != planned
    with FaultProxy(upstream.url) as proxy, make_copier(proxy.url, target) as copier:
        with pytest.raises(ImageDigestMismatchError) as caught:
            copier.copy(job)
        blob_gets = [r for r in proxy.requests if "/blobs/" in r.path]
    assert planned in str(caught.value) and moved in str(caught.value)
    assert blob_gets == []
    assert httpx.get(f"{target.url}/v2/{job.target_repository}/tags/list").status_code == 404
    observed(f"refused: {type(caught.value).__name__}; 0 blob requests; target repository absent")


@pytest.mark.reliability(
    area="images",
    fault="no imageDigest, and the upstream tag moves while the copy is streaming blobs",
    expected="the copier pins the digest it resolved once; the target tag names that digest, complete",
)
def test_tag_moving_during_a_copy_without_digest_copies_the_digest_resolved_once(
    upstream: LocalRegistry, target: LocalRegistry, name: str, observed: Callable[[str], None]
) -> None:
    first = publish_image(upstream.url, name, "v1", seed="first", layer_sizes=[2000, 300_000])
    moved: list[str] = []
    lock = threading.Lock()

    def move_tag_once(_: int) -> None:
        # Called while blob bytes stream: upstream now points the tag at another image.
        with lock:
            if not moved:
                moved.append(publish_image(upstream.url, name, "v1", seed="second", layer_sizes=[10, 20]))

    with make_copier(upstream.url, target, on_bytes=move_tag_once) as copier:
        result = copier.copy(job_for(name, None))

    assert moved and moved[0] != first
    assert result.digest == first and result.blobs_uploaded == 6
    assert target_digest(target, f"eksd/staging/{name}", "v1") == first
    observed(f"tag moved mid-copy to {moved[0][:19]}; copied and tagged the resolved {first[:19]} (6 blobs)")
