"""A moto server on loopback for the findings adapters: ECR's scan findings and the bucket's documents."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

REGION = "us-east-1"
_names = itertools.count()


@pytest.fixture(scope="package")
def moto_url() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, moto_url: str) -> str:
    """The environment a Lambda has, pointed at the moto server: production clients honour AWS_ENDPOINT_URL."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": moto_url,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_MAX_ATTEMPTS", raising=False)
    monkeypatch.delenv("AWS_RETRY_MODE", raising=False)
    return moto_url


def client(service: str, url: str) -> Any:
    return boto3.client(
        service, endpoint_url=url, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
    )


def unique(prefix: str) -> str:
    return f"{prefix}{next(_names)}"


def push_platform_image(ecr: Any, repository: str, arch: str) -> str:
    """An untagged OCI image manifest, as the copier pushes each platform of an index; its digest."""
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": "sha256:" + hashlib.sha256(f"config {repository} {arch}".encode()).hexdigest(),
                "size": 100,
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": "sha256:" + hashlib.sha256(f"layer {repository} {arch}".encode()).hexdigest(),
                    "size": 1000,
                }
            ],
        },
        separators=(",", ":"),
    )
    digest = "sha256:" + hashlib.sha256(manifest.encode()).hexdigest()
    ecr.put_image(repositoryName=repository, imageManifest=manifest, imageDigest=digest)
    return digest
