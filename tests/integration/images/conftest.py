"""Real registries for the image mirror: an upstream and a target docker-registry, and a fault proxy upstream."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from eksd_adopt.endpoints import EndpointMap
from eksd_adopt.local.faultproxy import FaultProxy
from eksd_adopt.local.registry import LocalRegistry
from eksd_adopt.oci.client import RegistryClient
from eksd_adopt.oci.copier import ImageCopier, SourceRegistries
from eksd_adopt.plan import ImageCopyJob
from eksd_adopt.retry import RetryPolicy

# Registries are started once for this package; every test uses repositories of its own.
_names = itertools.count()


@pytest.fixture(scope="package")
def upstream() -> Iterator[LocalRegistry]:
    with LocalRegistry() as registry:
        yield registry


@pytest.fixture(scope="package")
def target() -> Iterator[LocalRegistry]:
    with LocalRegistry() as registry:
        yield registry


@pytest.fixture
def proxy(upstream: LocalRegistry) -> Iterator[FaultProxy]:
    with FaultProxy(upstream.url) as server:
        yield server


@pytest.fixture
def name() -> str:
    """A repository path no other test uses (upstream side, under the allow-listed eks-distro/ prefix)."""
    return f"eks-distro/test/image-{next(_names)}"


FAST_RETRY = RetryPolicy(attempts=4, initial_backoff=0.01, max_backoff=0.05)


def make_copier(
    source_url: str, target: LocalRegistry, *, endpoints: tuple[str, ...] = (), **kwargs: object
) -> ImageCopier:
    """A copier from ``public.ecr.aws`` served at ``source_url`` (and any other ``HOST=URL`` mapping) into ``target``."""
    sources = SourceRegistries(
        endpoints=EndpointMap.parse([f"public.ecr.aws={source_url}", *endpoints]),
        client_factory=lambda base, host, policy: RegistryClient(
            base, display_host=host, retry=FAST_RETRY, policy=policy
        ),
    )
    return ImageCopier(RegistryClient(target.url, retry=FAST_RETRY), sources=sources, **kwargs)  # type: ignore[arg-type]


def job_for(repository: str, digest: str | None, *, tag: str = "v1", stage: str = "staging") -> ImageCopyJob:
    return ImageCopyJob(
        component="test",
        asset=repository.rsplit("/", 1)[-1] + "-image",
        source=f"public.ecr.aws/{repository}:{tag}",
        known_digest=digest,
        target_repository=f"eksd/{stage}/{repository}",
        tag=tag,
        arch=("amd64", "arm64"),
    )
