"""A session's local AWS runtime, two real registries (upstream and private) and a local CDN for the workflow."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml

from eksd_adopt.local.aws import LocalAws, RuntimeSettings
from eksd_adopt.local.cdn import LocalCdn
from eksd_adopt.local.images import image_publisher
from eksd_adopt.local.registry import LocalRegistry
from eksd_adopt.local.upstream import PublishedRelease, UpstreamSimulator
from tests.conftest import TESTDATA
from tests.iam_coverage import CallRecorder, assert_calls_allowed

APPROVER_A = "arn:aws:iam::123456789012:role/ReleaseApprovers"
APPROVER_B = "arn:aws:iam::123456789012:user/bob"
OUTSIDER = "arn:aws:iam::123456789012:user/mallory"
APPROVAL_TIMEOUT = 600  # the expiry test uses its own state machine with a short one
SHORT_TIMEOUT = 3
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


class Registry(LocalRegistry):
    """The shared local registry, plus what these tests read back from it."""

    def push_image(self, repository: str, tag: str, arches: list[str]) -> str:
        """A small multi-arch OCI index; returns the index digest (the simulator's image publisher)."""
        return image_publisher(self.url, layer_sizes=(2048,), seed="workflow")(repository, tag, arches)

    def layer_digests(self, repository: str, index_digest: str) -> list[str]:
        accept = {"Accept": f"{OCI_INDEX}, {OCI_MANIFEST}"}
        index = httpx.get(f"{self.url}/v2/{repository}/manifests/{index_digest}", headers=accept).json()
        return [
            layer["digest"]
            for entry in index["manifests"]
            for layer in httpx.get(f"{self.url}/v2/{repository}/manifests/{entry['digest']}", headers=accept).json()[
                "layers"
            ]
        ]


def small_template() -> str:
    """kubernetes-1-20-eks-1 cut down to a few images and archives: the real shape, a lean test."""
    document = yaml.safe_load((TESTDATA / "kubernetes-1-20-eks-1.yaml").read_text())
    kept = []
    for component in document["status"]["components"]:
        if component["name"] not in ("kubernetes", "etcd"):
            continue
        images = [a for a in component["assets"] if a["type"] == "Image"][:2]
        archives = [a for a in component["assets"] if a["type"] == "Archive"][:2]
        component["assets"] = images + archives
        kept.append(component)
    document["status"]["components"] = kept
    return yaml.safe_dump(document)


@pytest.fixture(scope="package")
def registries(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Registry, Registry]]:
    with (
        Registry(tmp_path_factory.mktemp("upstream-registry")) as upstream,
        Registry(tmp_path_factory.mktemp("private-registry")) as target,
    ):
        yield upstream, target


@pytest.fixture(scope="package")
def cdn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCdn]:
    server = LocalCdn(tmp_path_factory.mktemp("cdn"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="package")
def upstream(registries: tuple[Registry, Registry], cdn: LocalCdn) -> UpstreamSimulator:
    return UpstreamSimulator(cdn.root, registries[0].push_image)


@pytest.fixture(scope="package")
def aws(registries: tuple[Registry, Registry], cdn: LocalCdn) -> Iterator[LocalAws]:
    upstream_registry, target = registries
    settings = RuntimeSettings(
        stages=("prod",),
        approval_timeout_seconds=APPROVAL_TIMEOUT,
        mirror_concurrency=4,
        stage_rules={"prod": {"approvers": [APPROVER_A, APPROVER_B], "required_approvals": 1}},
        target_registry_url=target.url,
        endpoints=(f"public.ecr.aws={upstream_registry.url}", f"distro.eks.amazonaws.com={cdn.base_url}"),
    )
    with CallRecorder() as recorder, LocalAws(settings) as runtime:
        yield runtime
        # After the package's adoptions (approved, rejected, expired, failed, rolled back): every AWS
        # call a function made must be one its role in the synthesized stack allows.
        assert_calls_allowed(recorder, runtime)


def workflow_input(release: PublishedRelease) -> dict[str, Any]:
    text = release.manifest_text
    return {
        "release_id": release.release_id,
        "channel": release.channel,
        "number": release.number,
        "kubernetes_version": "v1.20.4",
        "manifest_url": f"https://distro.eks.amazonaws.com/kubernetes-{release.channel}/kubernetes-{release.channel}-eks-{release.number}.yaml",
        "manifest_sha256": hashlib.sha256(text.encode()).hexdigest(),
        "manifest_yaml": text,
        "announced": True,
    }


@pytest.fixture(scope="package")
def template() -> str:
    return small_template()


os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
