"""The cross-cutting fault suite: two real registries, a loopback CDN and a moto server, started once per package."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from eksd_adopt.local.cdn import LocalCdn
from eksd_adopt.local.registry import LocalRegistry

REGION = "us-east-1"
BUCKET = "eksd-reliability"
_names = itertools.count()


@pytest.fixture(scope="package")
def upstream() -> Iterator[LocalRegistry]:
    with LocalRegistry() as registry:
        yield registry


@pytest.fixture(scope="package")
def target() -> Iterator[LocalRegistry]:
    with LocalRegistry() as registry:
        yield registry


@pytest.fixture(scope="package")
def cdn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCdn]:
    server = LocalCdn(tmp_path_factory.mktemp("cdn"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="package")
def moto_url() -> Iterator[str]:
    """A moto server on loopback: a killed subprocess and this process see the same bucket."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    s3_at(url).create_bucket(Bucket=BUCKET)
    yield url
    server.stop()


def s3_at(url: str) -> Any:
    return boto3.client(
        "s3", endpoint_url=url, region_name=REGION, aws_access_key_id="local", aws_secret_access_key="local"
    )


@pytest.fixture
def name() -> str:
    """An upstream repository no other test uses (under the allow-listed eks-distro/ prefix)."""
    return f"eks-distro/reliability/image-{next(_names)}-{os.getpid()}"
