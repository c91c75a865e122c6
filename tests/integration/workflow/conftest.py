"""A session's local AWS runtime, two real registries (upstream and private) and a local CDN for the workflow."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from eksd_adopt.local.aws import LocalAws, RuntimeSettings
from eksd_adopt.local.cdn import LocalCdn
from eksd_adopt.local.upstream import PublishedRelease, UpstreamSimulator
from tests.conftest import TESTDATA

APPROVER_A = "arn:aws:iam::123456789012:role/ReleaseApprovers"
APPROVER_B = "arn:aws:iam::123456789012:user/bob"
OUTSIDER = "arn:aws:iam::123456789012:user/mallory"
APPROVAL_TIMEOUT = 600  # the expiry test uses its own state machine with a short one
SHORT_TIMEOUT = 3
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Registry:
    """A Debian docker-registry on loopback with its own storage."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = root / "config.yml"
        config.write_text(
            yaml.safe_dump(
                {
                    "version": 0.1,
                    "log": {"level": "error"},
                    "storage": {"filesystem": {"rootdirectory": str(root / "data")}, "delete": {"enabled": True}},
                    "http": {"addr": f"127.0.0.1:{self.port}"},
                }
            )
        )
        self.process = subprocess.Popen(
            ["/usr/bin/docker-registry", "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for _ in range(100):
            try:
                if httpx.get(f"{self.url}/v2/", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("docker-registry did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)

    def blob_path(self, digest: str) -> Path:
        hexd = digest.split(":", 1)[1]
        return self.root / "data" / "docker" / "registry" / "v2" / "blobs" / "sha256" / hexd[:2] / hexd / "data"

    def _push_blob(self, repository: str, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        start = httpx.post(f"{self.url}/v2/{repository}/blobs/uploads/")
        start.raise_for_status()
        location = start.headers["location"]
        location = location if location.startswith("http") else self.url + location
        separator = "&" if "?" in location else "?"
        httpx.put(f"{location}{separator}digest={digest}", content=data).raise_for_status()
        return digest

    def push_image(self, repository: str, tag: str, arches: list[str]) -> str:
        """A small multi-arch OCI index (one layer per platform); returns the index digest."""
        entries = []
        for arch in arches or ["amd64"]:
            layer = hashlib.sha512(f"{repository}:{tag}:{arch}".encode()).digest() * 4
            config = json.dumps(
                {"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
            ).encode()
            manifest = json.dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": OCI_MANIFEST,
                    "config": {
                        "mediaType": "application/vnd.oci.image.config.v1+json",
                        "digest": self._push_blob(repository, config),
                        "size": len(config),
                    },
                    "layers": [
                        {
                            "mediaType": "application/vnd.oci.image.layer.v1.tar",
                            "digest": self._push_blob(repository, layer),
                            "size": len(layer),
                        }
                    ],
                }
            ).encode()
            digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
            httpx.put(
                f"{self.url}/v2/{repository}/manifests/{digest}",
                content=manifest,
                headers={"Content-Type": OCI_MANIFEST},
            ).raise_for_status()
            entries.append(
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": digest,
                    "size": len(manifest),
                    "platform": {"os": "linux", "architecture": arch},
                }
            )
        index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}).encode()
        httpx.put(
            f"{self.url}/v2/{repository}/manifests/{tag}", content=index, headers={"Content-Type": OCI_INDEX}
        ).raise_for_status()
        return "sha256:" + hashlib.sha256(index).hexdigest()

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


def skopeo_mirror(upstream: Registry, target: Registry) -> Any:
    """Stand-in for the mirror_image Lambda until it lands: skopeo copies the index by digest, byte for byte."""

    class BlobVerificationError(Exception):
        pass

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        job = event["job"]
        source = job["source"].split("/", 1)[1]
        repository = source.rpartition(":")[0]
        src = f"docker://127.0.0.1:{upstream.port}/{repository}@{job['known_digest']}"
        dst = f"docker://127.0.0.1:{target.port}/{job['target_repository']}:{job['tag']}"
        result = subprocess.run(
            [
                "skopeo",
                "copy",
                "--all",
                "--preserve-digests",
                "--src-tls-verify=false",
                "--dest-tls-verify=false",
                "-q",
                src,
                dst,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise BlobVerificationError(result.stderr.strip()[-500:])
        return {"digest": job["known_digest"], "target": dst}

    return handler


@pytest.fixture(scope="package")
def registries(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Registry, Registry]]:
    upstream = Registry(tmp_path_factory.mktemp("upstream-registry"))
    target = Registry(tmp_path_factory.mktemp("private-registry"))
    yield upstream, target
    upstream.stop()
    target.stop()


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
    with LocalAws(settings) as runtime:
        if not (Path(__file__).resolve().parents[3] / "functions" / "mirror_image" / "handler.py").is_file():
            runtime.register_function("mirror_image", skopeo_mirror(upstream_registry, target))
        yield runtime


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
