"""Upstream simulator: publishes an EKS-D-shaped release on local servers, exactly as upstream would.

From a real manifest it keeps the components, assets and URI paths (and the real upstream hosts),
replaces the bytes with small synthetic ones, and writes true sha256/sha512 values and the
``imageDigest`` of each published multi-arch image. It publishes what upstream publishes: the
artifacts with their ``.sha256``/``.sha512`` files, the write-once manifest, the
``releasechannels/<ch>.yaml`` file, and a plain-text notification in the current template.
"""

from __future__ import annotations

import copy
import hashlib
import random
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from eksd_adopt.errors import EksdAdoptError
from eksd_adopt.local.images import SharedLayer
from eksd_adopt.reference import ImageReference
from eksd_adopt.release.validate import validate_manifest

# (repository path on the upstream registry, tag, architectures) -> index digest
ImagePublisher = Callable[[str, str, list[str]], str]

ANNOUNCEMENT = (
    "Amazon EKS Distro v{channel}-eks-{number} is now available. Builds are available through ECR Public "
    "Gallery (https://gallery.ecr.aws/eks-distro). The changelog and release manifest are available on "
    "GitHub (https://github.com/aws/eks-distro/releases).\n\t"
)


# How EKS-D builds its images, so a simulated release shares layers as a real one does. The
# Kubernetes images are ``FROM`` a go-runner image (built on the minimal base), then ``COPY LICENSES``,
# ``COPY ATTRIBUTION.txt`` and the platform's binary (aws/eks-distro projects/kubernetes/kubernetes/
# docker/Dockerfile, the Makefile's GO_RUNNER_IMAGE); kube-proxy starts from an iptables base
# (KUBE_PROXY_BASE_IMAGE); pause is ``FROM scratch`` (docker/pause/Dockerfile); the other projects'
# images are ``FROM eks-distro-minimal-base`` with their own LICENSES and ATTRIBUTION.txt (the same
# Dockerfile pattern across aws/eks-anywhere-build-tooling). A base layer has other bytes per
# platform; LICENSES and ATTRIBUTION.txt come from one build context for every platform, so both
# platforms' manifests name the same layer (inference: identical files, identical layer).
MINIMAL_BASE = SharedLayer("eks-distro-minimal-base", 8192)
IPTABLES_BASE = SharedLayer("eks-distro-minimal-base-iptables", 12288)
GO_RUNNER = SharedLayer("kubernetes/go-runner", 3072)


def eksd_base_layers(repository: str) -> tuple[SharedLayer, ...]:
    """The layers an image of ``repository`` (``eks-distro/<project path>/<image>``) shares with others."""
    path = repository.removeprefix("eks-distro/").split("/")
    if path[0] == "kubernetes":
        if path[-1] == "pause":
            return ()
        base = (IPTABLES_BASE,) if path[-1] == "kube-proxy" else (MINIMAL_BASE, GO_RUNNER)
        return (*base, *_project_files("kubernetes"))
    # kubernetes-csi/external-snapshotter/{csi-snapshotter,snapshot-controller,...}: one project, one LICENSES.
    project = "/".join(path[:-1]) if len(path) > 2 else "/".join(path)
    return (MINIMAL_BASE, *_project_files(project))


def _project_files(project: str) -> tuple[SharedLayer, ...]:
    return (
        SharedLayer(f"{project}/LICENSES", 2048, per_platform=False),
        SharedLayer(f"{project}/ATTRIBUTION.txt", 512, per_platform=False),
    )


@dataclass
class PublishedRelease:
    channel: str
    number: int
    manifest_text: str
    manifest_path: Path
    archives: dict[str, tuple[int, str, str]] = field(default_factory=dict)  # uri -> (bytes, sha256, sha512)
    images: dict[str, str] = field(default_factory=dict)  # uri -> index digest

    @property
    def release_id(self) -> str:
        return f"{self.channel}-{self.number}"

    @property
    def subject(self) -> str:
        return f"New Release of EKS-D v{self.channel}"

    @property
    def announcement(self) -> str:
        return ANNOUNCEMENT.format(channel=self.channel, number=self.number)

    @property
    def archive_bytes(self) -> int:
        return sum(size for size, _, _ in self.archives.values())


class UpstreamSimulator:
    """Writes the CDN's files under ``cdn_root`` (URL path = file path) and images through ``publish_image``."""

    def __init__(
        self, cdn_root: Path, publish_image: ImagePublisher, *, seed: int = 1, image_concurrency: int = 6
    ) -> None:
        self.cdn_root = cdn_root
        self.publish_image = publish_image
        self.seed = seed
        self.image_concurrency = image_concurrency

    def publish_release(
        self,
        template: str,
        *,
        channel: str | None = None,
        number: int | None = None,
        archive_size: int = 4096,
        kubernetes_version: str | None = None,
        on_artifact: Callable[[str], None] | None = None,
    ) -> PublishedRelease:
        """Publish a release shaped like ``template`` (a real manifest's text).

        ``kubernetes_version`` (e.g. ``v1.20.5``) moves the kubernetes component to another patch
        release: its gitTag, image tags and archive paths, as a real release that bumps Kubernetes.
        """
        document = yaml.safe_load(template)
        old_channel, old_number = document["spec"]["channel"], int(document["spec"]["number"])
        channel, number = channel or old_channel, number or old_number
        document = _renumber(document, old_channel, old_number, channel, number)
        if kubernetes_version:
            document = _with_kubernetes_version(document, kubernetes_version)
        manifest_path = self.cdn_root / f"kubernetes-{channel}" / f"kubernetes-{channel}-eks-{number}.yaml"
        published = PublishedRelease(channel, number, "", manifest_path)
        rng = random.Random(f"{self.seed}-{channel}-{number}")  # noqa: S311 - reproducible test bytes, not secrets
        for asset in _assets(document):
            if asset.get("type") == "Archive":
                self._publish_archive(asset, published, rng, archive_size)
                if on_artifact:
                    on_artifact(asset["name"])
        images = [asset for asset in _assets(document) if asset.get("type") == "Image"]

        def publish(asset: dict[str, Any]) -> None:
            reference = ImageReference.parse(asset["image"]["uri"])
            assert reference.tag
            digest = self.publish_image(reference.repository, reference.tag, list(asset.get("arch") or []))
            asset["image"]["imageDigest"] = digest
            published.images[asset["image"]["uri"]] = digest
            if on_artifact:
                on_artifact(asset["name"])

        # Images go up a few at a time, as upstream's build pushes them in parallel.
        with ThreadPoolExecutor(max_workers=self.image_concurrency) as pool:
            list(pool.map(publish, images))
        text = yaml.safe_dump(document, sort_keys=True) + "\n"
        report = validate_manifest(text, source=manifest_path.name)
        report.require_valid(strict=False)
        self._write_once(manifest_path, text.encode())
        self._write_release_channel(channel, number)
        published.manifest_text = text
        return published

    def _publish_archive(
        self, asset: dict[str, Any], published: PublishedRelease, rng: random.Random, size: int
    ) -> None:
        uri = asset["archive"]["uri"]
        data = rng.randbytes(size)
        path = self.cdn_root / urlsplit(uri).path.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        sha256, sha512 = hashlib.sha256(data).hexdigest(), hashlib.sha512(data).hexdigest()
        path.with_name(path.name + ".sha256").write_text(f"{sha256}  {path.name}\n")
        path.with_name(path.name + ".sha512").write_text(f"{sha512}  {path.name}\n")
        asset["archive"]["sha256"], asset["archive"]["sha512"] = sha256, sha512
        published.archives[uri] = (size, sha256, sha512)

    def _write_once(self, path: Path, data: bytes) -> None:
        # Upstream never overwrites a release manifest; neither does the simulator.
        if path.exists() and path.read_bytes() != data:
            raise EksdAdoptError(f"{path.name} is already published with other content")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def _write_release_channel(self, channel: str, number: int) -> None:
        path = self.cdn_root / "releasechannels" / f"{channel}.yaml"
        current = yaml.safe_load(path.read_text())["status"]["latestRelease"] if path.exists() else 0
        document = {
            "apiVersion": "distro.eks.amazonaws.com/v1alpha1",
            "kind": "ReleaseChannel",
            "metadata": {"creationTimestamp": None, "name": channel},
            "spec": {"snsTopicARN": "arn:aws:sns:us-east-1:379412251201:eks-distro-updates"},
            "status": {"active": True, "latestRelease": max(number, int(current))},
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(document, sort_keys=False))


def _assets(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for component in document["status"]["components"]:
        yield from component["assets"]


def _renumber(document: dict[str, Any], old_ch: str, old_n: int, channel: str, number: int) -> dict[str, Any]:
    """Re-home a template release as ``channel``/``number``: name, spec, tags and archive paths."""
    document = copy.deepcopy(document)
    document["metadata"]["name"] = f"kubernetes-{channel}-eks-{number}"
    document["spec"]["channel"], document["spec"]["number"] = channel, number
    old_minor, new_minor = old_ch.replace("-", "."), channel.replace("-", ".")
    for component in document["status"]["components"]:
        if component.get("name") == "kubernetes" and old_minor != new_minor:
            component["gitTag"] = component["gitTag"].replace(f"v{old_minor}.", f"v{new_minor}.")
        for asset in component["assets"]:
            if asset.get("image"):
                asset["image"]["uri"] = asset["image"]["uri"].replace(
                    f"-eks-{old_ch}-{old_n}", f"-eks-{channel}-{number}"
                )
            if asset.get("archive"):
                asset["archive"]["uri"] = asset["archive"]["uri"].replace(
                    f"/kubernetes-{old_ch}/releases/{old_n}/", f"/kubernetes-{channel}/releases/{number}/"
                )
    return document


def _with_kubernetes_version(document: dict[str, Any], version: str) -> dict[str, Any]:
    """The kubernetes component at ``version``: gitTag, image tags (``:<tag>-eks-``) and archive paths (``/<tag>/``)."""
    for component in document["status"]["components"]:
        if component.get("name") != "kubernetes":
            continue
        old = component["gitTag"]
        component["gitTag"] = version
        for asset in component["assets"]:
            if asset.get("image"):
                asset["image"]["uri"] = asset["image"]["uri"].replace(f":{old}-eks-", f":{version}-eks-")
            if asset.get("archive"):
                asset["archive"]["uri"] = asset["archive"]["uri"].replace(f"/{old}/", f"/{version}/")
    return document
