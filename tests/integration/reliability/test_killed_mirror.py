"""A mirror Lambda killed part-way (SIGKILL, as a Lambda timeout does), then retried with the same event.

The retry finishes the job without moving again what the killed run had already committed, and at
no time does the target hold a tag or an object that is not complete and verified.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from eksd_adopt.images.client import RegistryClient
from eksd_adopt.images.inspect import inspect_image
from eksd_adopt.local.cdn import LocalCdn
from eksd_adopt.local.faultproxy import FaultProxy
from eksd_adopt.local.images import publish_image
from eksd_adopt.local.lambdas import LambdaContext, load_handler
from eksd_adopt.local.registry import LocalRegistry
from eksd_adopt.plan import ArchiveCopyJob, ImageCopyJob
from tests.integration.archives.conftest import publish, url_path
from tests.integration.reliability.conftest import BUCKET, REGION, s3_at

pytestmark = pytest.mark.xdist_group("reliability")

DYING = Path(__file__).with_name("dying_lambda.py")
MIB = 1024 * 1024
HOST = "distro.eks.amazonaws.com"


def run_until_killed(kind: str, kill_after: int, event: dict[str, Any], env: dict[str, str]) -> None:
    """Run the handler in a child process that SIGKILLs itself after ``kill_after`` committed writes."""
    done = subprocess.run(
        [sys.executable, str(DYING), kind, str(kill_after), json.dumps(event)],
        env={**os.environ, **env, "POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_LOG_LEVEL": "WARNING"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == -9, (done.returncode, done.stderr[-2000:])


@pytest.fixture
def lambda_env(monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[str, str]], dict[str, str]]:
    def apply(values: dict[str, str]) -> dict[str, str]:
        for key, value in values.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
        return values

    return apply


def all_blobs(registry: LocalRegistry, repository: str, digest: str) -> list[str]:
    client = RegistryClient(registry.url)
    try:
        digests: list[str] = []
        for platform in inspect_image(client, repository, digest).platforms:
            manifest = client.get_manifest(repository, platform.manifest_digest)
            digests.extend(blob.digest for blob in manifest.blobs(repository))
        return digests
    finally:
        client.close()


@pytest.mark.reliability(
    area="images",
    fault="mirror-image Lambda SIGKILLed after 3 of 6 blobs, then invoked again with the same event",
    expected="no tag in the target after the kill; the retry uploads only the 3 missing blobs and tags the image",
)
def test_killed_image_mirror_is_finished_by_the_retry_without_recopying(
    upstream: LocalRegistry,
    target: LocalRegistry,
    name: str,
    lambda_env: Callable[[dict[str, str]], dict[str, str]],
    observed: Callable[[str], None],
) -> None:
    # Given a two-platform image (config + 2 layers each: 6 blobs) and the Map item the workflow sends
    digest = publish_image(upstream.url, name, "v1", layer_sizes=[3000, 70_000])
    blobs = all_blobs(upstream, name, digest)
    assert len(blobs) == 6
    job = ImageCopyJob(
        component="test",
        asset="image",
        source=f"public.ecr.aws/{name}:v1",
        known_digest=digest,
        target_repository=f"eksd/staging/{name}",
        tag="v1",
        arch=("amd64", "arm64"),
    )
    event = {"job": job.model_dump(mode="json")}
    with FaultProxy(upstream.url) as proxy:
        env = lambda_env(
            {
                "TARGET_REGISTRY_URL": target.url,
                "TARGET_REGISTRY_AUTH": "none",
                "EKSD_ADOPT_ENDPOINTS": f"public.ecr.aws={proxy.url}",
                "MIRROR_CONCURRENCY": "1",  # one blob at a time: the kill lands after exactly 3
            }
        )
        # When the function is killed after its third committed blob
        run_until_killed("image", 3, event, env)
        committed = [d for d in blobs if target.blob_path(d).exists()]
        assert len(committed) == 3
        # Then the target has no tag: a half-copied image is never visible under its name
        assert httpx.head(f"{target.url}/v2/{job.target_repository}/manifests/v1").status_code == 404
        proxy.clear()

        # When Step Functions retries the item: the same handler, the same event
        result = load_handler("images_mirror").handler(event, LambdaContext())

        fetched = {r.path.rsplit("/", 1)[-1] for r in proxy.requests if r.method == "GET" and "/blobs/" in r.path}
    # Then only the missing blobs moved, and the tag names the complete image
    assert (result["blobs_uploaded"], result["blobs_skipped"], result["skipped"]) == (3, 3, False)
    assert fetched == set(blobs) - set(committed)  # what was done was not fetched again
    head = httpx.head(
        f"{target.url}/v2/{job.target_repository}/manifests/v1",
        headers={"Accept": "application/vnd.oci.image.index.v1+json"},
    )
    assert head.headers["docker-content-digest"] == digest
    assert all(target.blob_path(d).exists() for d in blobs)
    observed(
        f"after the kill: {len(committed)}/6 blobs, no tag; retry uploaded {result['blobs_uploaded']}, "
        f"skipped {result['blobs_skipped']}, fetched {len(fetched)} from upstream; tag -> {digest[:19]}"
    )


@pytest.mark.reliability(
    area="archives",
    fault="mirror-archive Lambda SIGKILLed after 1 of 3 parts of an 11 MiB archive; the workflow's Map retried",
    expected=(
        "no object for the killed archive; on retry completed archives are skipped by HEAD (no download) and "
        "the killed one is copied whole and verified"
    ),
)
def test_killed_archive_mirror_is_finished_by_the_retry_without_recopying(
    cdn: LocalCdn,
    moto_url: str,
    lambda_env: Callable[[dict[str, str]], dict[str, str]],
    observed: Callable[[str], None],
) -> None:
    s3 = s3_at(moto_url)
    number = 900 + os.getpid() % 50
    jobs = [
        publish(cdn, "kubectl", 200_000, number=number),
        publish(cdn, "etcd.tar.gz", 300_000, number=number),
        publish(cdn, "kubernetes-server-linux-amd64.tar.gz", 11 * MIB, number=number),
    ]
    events = [{"job": j.model_dump(mode="json")} for j in jobs]
    env = lambda_env(
        {
            "ARCHIVE_BUCKET": BUCKET,
            "EKSD_ADOPT_ENDPOINTS": f"{HOST}={cdn.base_url}",
            "ARCHIVE_PART_SIZE_MIB": "5",
            "AWS_ENDPOINT_URL": moto_url,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": REGION,
        }
    )
    handler = load_handler("archives_mirror").handler
    # Given the first two Map items done and the third killed after its first 5 MiB part
    first = [handler(e, LambdaContext()) for e in events[:2]]
    run_until_killed("archive", 1, events[2], env)
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=_prefix(jobs[0])).get("Contents", [])}
    assert keys == {jobs[0].target_key, jobs[1].target_key}  # nothing unverified is visible
    orphans = [u for u in s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) if u["Key"] == jobs[2].target_key]
    assert len(orphans) == 1  # left for the bucket's AbortIncompleteMultipartUpload rule
    cdn.reset()

    # When the workflow is retried: every item again
    again = [handler(e, LambdaContext()) for e in events]

    # Then the finished archives were not downloaded again and the killed one is whole and verified
    gets = [r.path for r in cdn.requests if r.method == "GET"]
    assert [r["skipped"] for r in again] == [True, True, False] and not any(f["skipped"] for f in first)
    assert gets == [url_path(jobs[2])]
    stored = s3.get_object(Bucket=BUCKET, Key=jobs[2].target_key)
    body = stored["Body"].read()
    assert hashlib.sha512(body).hexdigest() == jobs[2].sha512 and len(body) == 11 * MIB
    assert stored["Metadata"] == {"sha256": jobs[2].sha256, "sha512": jobs[2].sha512}
    observed(
        "after the kill: 2 objects, no object for the killed archive, 1 unfinished multipart upload (aborted by "
        "the lifecycle rule); retry: 2 skipped without a GET, the killed archive re-read from byte 0 "
        f"({again[2]['bytes']} bytes) and verified"
    )


def _prefix(job: ArchiveCopyJob) -> str:
    return job.target_key.rsplit("/", 1)[0] + "/"
