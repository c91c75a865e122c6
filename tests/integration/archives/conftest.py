"""A real loopback CDN (session) and a moto S3 bucket (per test) for the archive mirror."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from eksd_adopt.archives.copier import ArchiveCopier
from eksd_adopt.archives.s3store import S3ArchiveStore
from eksd_adopt.endpoints import EndpointMap
from eksd_adopt.local.cdn import LocalCdn
from eksd_adopt.local.s3conditional import atomic_conditional_puts
from eksd_adopt.plan import ArchiveCopyJob
from eksd_adopt.retry import RetryPolicy

HOST = "distro.eks.amazonaws.com"
BUCKET = "eksd-artifacts-test"
MIB = 1024 * 1024
PART = 5 * MIB  # S3's (and moto's) smallest part
RELEASE_PATH = "kubernetes-1-20/releases/1/artifacts/kubernetes/v1.20.4"


@pytest.fixture(scope="session")
def cdn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCdn]:
    root = tmp_path_factory.mktemp("cdn")
    server = LocalCdn(root)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def cdn_clean(cdn: LocalCdn) -> Iterator[LocalCdn]:
    cdn.reset()
    yield cdn
    cdn.reset()


def publish(cdn: LocalCdn, name: str, size: int, *, seed: int = 0, number: int = 1) -> ArchiveCopyJob:
    """Put ``size`` pseudo-random bytes on the CDN (release ``number`` of 1-20) and return the job that copies them."""
    release_path = RELEASE_PATH.replace("/releases/1/", f"/releases/{number}/")
    path = cdn.root / release_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        data = hashlib.shake_256(f"{name}-{seed}".encode()).digest(size) if size <= 4 * MIB else _big(name, size)
        path.write_bytes(data)
    data = path.read_bytes()
    return ArchiveCopyJob(
        component="kubernetes",
        asset=name,
        source_url=f"https://{HOST}/{release_path}/{name}",
        sha256=hashlib.sha256(data).hexdigest(),
        sha512=hashlib.sha512(data).hexdigest(),
        target_key=f"eksd/staging/{release_path}/{name}",
    )


def _big(name: str, size: int) -> bytes:
    block = hashlib.shake_256(name.encode()).digest(MIB)
    return b"".join(block[i:] + block[:i] for i in range(size // MIB + 1))[:size]


def url_path(job: ArchiveCopyJob) -> str:
    return "/" + job.source_url.split("/", 3)[3]


@pytest.fixture
def s3() -> Iterator[Any]:
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    saved = {k: os.environ.get(k) for k in [*env, "AWS_ENDPOINT_URL"]}
    os.environ.update(env)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    undo = atomic_conditional_puts()  # moto, like S3, lets one of racing conditional creates win
    try:
        with mock_aws():
            client = boto3.client("s3", region_name="us-east-1")
            client.create_bucket(Bucket=BUCKET)
            yield client
    finally:
        undo()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
def store(s3: Any) -> S3ArchiveStore:
    return S3ArchiveStore(BUCKET, client=s3)


def make_copier(store: S3ArchiveStore, cdn: LocalCdn, **kwargs: Any) -> ArchiveCopier:
    kwargs.setdefault("retry", RetryPolicy(attempts=3, initial_backoff=0.01, max_backoff=0.05))
    kwargs.setdefault("part_size", PART)
    return ArchiveCopier(store, allowed_hosts=[HOST], endpoints=EndpointMap.parse([f"{HOST}={cdn.base_url}"]), **kwargs)


def bucket_is_empty(s3: Any) -> bool:
    """No object and no unfinished multipart upload: nothing unverified was left."""
    objects = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    uploads = s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])
    return not objects and not uploads


def stored_bytes(s3: Any, key: str) -> bytes:
    return bytes(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def source_bytes(cdn: LocalCdn, job: ArchiveCopyJob) -> bytes:
    return Path(cdn.root / url_path(job).lstrip("/")).read_bytes()
