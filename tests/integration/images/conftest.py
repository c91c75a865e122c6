"""Real registries for the image mirror: an upstream docker-registry, and the target three ways.

The target is a docker-registry as it is (the spec), and the same registry behind the ECR front
(:class:`~eksd_adopt.local.ecrfront.EcrFront`: 201 on PATCH, one PATCH per session, 416 in a failed
session, basic auth, immutable tags) with the registry's BLOB_MOUNTING setting off (ECR's default)
and on (what the stack sets). Every test that takes ``target`` runs against all three, each with a
docker-registry of its own. Tests read what was stored from that registry (``target.registry``),
independently of the front.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from eksd_adopt.endpoints import EndpointMap
from eksd_adopt.images.client import BasicCredentials, RegistryClient
from eksd_adopt.images.copier import ImageCopier, SourceRegistries, UploadMode
from eksd_adopt.local.ecrfront import LOCAL_CREDENTIALS, EcrFront
from eksd_adopt.local.faultproxy import FaultProxy
from eksd_adopt.local.registry import LocalRegistry
from eksd_adopt.plan import ImageCopyJob
from eksd_adopt.retry import RetryPolicy

# Registries are started once for this package; every test uses repositories of its own.
_names = itertools.count()
FAST_RETRY = RetryPolicy(attempts=4, initial_backoff=0.01, max_backoff=0.05)
TARGETS = ("registry", "ecr", "ecr-mounting")


@dataclass
class Target:
    """The registry the copier pushes to: ``registry`` itself, or ``ecr`` in front of it."""

    kind: str
    registry: LocalRegistry  # where the bytes are stored: tests read back from here
    ecr: EcrFront | None = None

    @property
    def url(self) -> str:
        return self.ecr.url if self.ecr else self.registry.url

    @property
    def host(self) -> str:
        return self.url.split("://", 1)[1]

    @property
    def credentials(self) -> BasicCredentials | None:
        return LOCAL_CREDENTIALS if self.ecr else None

    @property
    def mounts(self) -> bool:
        """Whether a cross-repository mount is honoured (docker-registry always; ECR with BLOB_MOUNTING)."""
        return self.ecr.blob_mounting if self.ecr else True

    @property
    def uploads(self) -> UploadMode:
        """What the mirror sends this target: ECR one PATCH per large blob, docker-registry the blob in its PUT."""
        return UploadMode.for_target(ecr=self.ecr is not None)

    def client(self, **kwargs: object) -> RegistryClient:
        return RegistryClient(self.url, credentials=self.credentials, retry=FAST_RETRY, **kwargs)  # type: ignore[arg-type]

    def blob_path(self, digest: str) -> Path:
        return self.registry.blob_path(digest)


@pytest.fixture(scope="package")
def upstream() -> Iterator[LocalRegistry]:
    with LocalRegistry() as registry:
        yield registry


@pytest.fixture(scope="package", params=TARGETS)
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    """Each kind of target with a docker-registry of its own (tests reuse repository names across kinds)."""
    with LocalRegistry() as registry:
        if request.param == "registry":
            yield Target("registry", registry)
            return
        with EcrFront(registry.url, blob_mounting=request.param == "ecr-mounting") as front:
            yield Target(request.param, registry, front)


@pytest.fixture
def proxy(upstream: LocalRegistry) -> Iterator[FaultProxy]:
    with FaultProxy(upstream.url) as server:
        yield server


@pytest.fixture
def name() -> str:
    """A repository path no other test uses (upstream side, under the allow-listed eks-distro/ prefix)."""
    return f"eks-distro/test/image-{next(_names)}"


def make_copier(
    source_url: str,
    target: Target | LocalRegistry,
    *,
    endpoints: tuple[str, ...] = (),
    uploads: UploadMode | None = None,
    **kwargs: object,
) -> ImageCopier:
    """A copier from ``public.ecr.aws`` served at ``source_url`` (and any other ``HOST=URL`` mapping) into
    ``target``, uploading as the mirror would there."""
    if isinstance(target, LocalRegistry):
        target = Target("registry", target)
    sources = SourceRegistries(
        endpoints=EndpointMap.parse([f"public.ecr.aws={source_url}", *endpoints]),
        client_factory=lambda base, host, policy: RegistryClient(
            base, display_host=host, retry=FAST_RETRY, policy=policy
        ),
    )
    return ImageCopier(target.client(), sources=sources, uploads=uploads or target.uploads, **kwargs)  # type: ignore[arg-type]


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
