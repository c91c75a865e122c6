"""Synthetic multi-arch images, built in Python and pushed to a registry through the OCI API.

Each image is an index (OCI, or Docker manifest list) of one manifest per platform; each platform
has a config whose ``os``/``architecture`` match its platform entry, and layers of deterministic
random bytes of the sizes asked for. Shared layers have the same bytes in every image that names
them (per platform), as a base layer would. Bytes are generated in 1 MiB chunks and streamed, so a
1 GiB layer costs no more memory than a small one. The demo, the workflow tests and the benchmarks
publish a release's images with :func:`publish_image`.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from eksd_adopt.images.client import RegistryClient
from eksd_adopt.images.media import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
    Manifest,
    sha256_digest,
)

MIB = 1024 * 1024
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DEFAULT_PLATFORMS = ("linux/amd64", "linux/arm64")


@dataclass(frozen=True)
class SharedLayer:
    """A layer with the same bytes in every image naming it, like a common base image.

    ``per_platform``: each platform has its own bytes (a base image's binaries); otherwise every
    platform's manifest names the same blob (files copied from the build context, such as licenses).
    """

    name: str
    size: int
    per_platform: bool = True

    def key(self, platform: str) -> str:
        return f"shared:{self.name}:{platform}" if self.per_platform else f"shared:{self.name}"


def layer_chunks(key: str, size: int, chunk: int = MIB) -> Iterator[bytes]:
    """``size`` deterministic pseudo-random bytes for ``key``, in chunks.

    One seeded 1 MiB block, rotated differently for every chunk: as incompressible as random
    bytes for a registry, and about 50x faster to make than ``Random.randbytes`` for a whole GiB.
    """
    block = random.Random(key).randbytes(min(chunk, max(size, 1)))  # noqa: S311 - test bytes, not secrets
    produced, index = 0, 0
    while produced < size:
        shift = (index * 40_503) % len(block)
        data = block[shift:] + block[:shift]
        data = data[: size - produced]
        produced += len(data)
        index += 1
        yield data


def layer_digest(key: str, size: int) -> str:
    digest = hashlib.sha256()
    for data in layer_chunks(key, size):
        digest.update(data)
    return "sha256:" + digest.hexdigest()


def push_stream(client: RegistryClient, repository: str, key: str, size: int) -> str:
    """Push one generated layer (streamed in a single PATCH), unless the registry already has it."""
    digest = layer_digest(key, size)
    if client.blob_exists(repository, digest):
        return digest
    if size <= 4 * MIB:
        client.push_blob(repository, b"".join(layer_chunks(key, size)), digest)
        return digest

    def call() -> None:
        location = client.start_upload(repository)
        location = client.patch_upload(repository, location, layer_chunks(key, size), 0, size)
        client.finish_upload(repository, location, digest)

    client.retried(f"push {repository} {digest}", call)
    return digest


def _dump(document: dict[str, object]) -> bytes:
    return json.dumps(document, indent=3, sort_keys=False).encode()  # registries keep whatever bytes they get


def publish_image(
    registry_url: str,
    repository: str,
    tag: str,
    *,
    platforms: Sequence[str] = DEFAULT_PLATFORMS,
    layer_sizes: Sequence[int] = (2048, 4096),
    shared_layers: Sequence[SharedLayer] = (),
    seed: str | int = 0,
    docker_media_types: bool = False,
    client: RegistryClient | None = None,
) -> str:
    """Build and push a multi-arch image; returns its index digest (the ``imageDigest`` a manifest names)."""
    own = client is None
    registry = client or RegistryClient(registry_url)
    index_type, manifest_type = (DOCKER_LIST, DOCKER_MANIFEST) if docker_media_types else (OCI_INDEX, OCI_MANIFEST)
    config_type, layer_type = (DOCKER_CONFIG, DOCKER_LAYER) if docker_media_types else (OCI_CONFIG, OCI_LAYER)
    try:
        entries: list[dict[str, object]] = []
        for platform in platforms:
            os_name, _, rest = platform.partition("/")
            arch, _, variant = rest.partition("/")
            layers: list[dict[str, object]] = []
            specs = [(layer.key(platform), layer.size) for layer in shared_layers] + [
                (f"{seed}:{repository}:{tag}:{platform}:{i}", size) for i, size in enumerate(layer_sizes)
            ]
            for key, size in specs:
                digest = push_stream(registry, repository, key, size)
                layers.append({"mediaType": layer_type, "digest": digest, "size": size})
            config_doc: dict[str, object] = {
                "architecture": arch,
                "os": os_name,
                "config": {"Labels": {"org.opencontainers.image.ref.name": f"{repository}:{tag}"}},
                "rootfs": {"type": "layers", "diff_ids": [layer["digest"] for layer in layers]},  # uncompressed tars
            }
            if variant:
                config_doc["variant"] = variant
            config = _dump(config_doc)
            config_digest = sha256_digest(config)
            registry.push_blob(repository, config, config_digest)
            body = _dump(
                {
                    "schemaVersion": 2,
                    "mediaType": manifest_type,
                    "config": {"mediaType": config_type, "digest": config_digest, "size": len(config)},
                    "layers": layers,
                }
            )
            manifest = Manifest(manifest_type, body, sha256_digest(body))
            registry.put_manifest(repository, manifest.digest, manifest)
            entry_platform: dict[str, str] = {"architecture": arch, "os": os_name}
            if variant:
                entry_platform["variant"] = variant
            entries.append(
                {"mediaType": manifest_type, "digest": manifest.digest, "size": len(body), "platform": entry_platform}
            )
        index_body = _dump({"schemaVersion": 2, "mediaType": index_type, "manifests": entries})
        index = Manifest(index_type, index_body, sha256_digest(index_body))
        return registry.put_manifest(repository, tag, index)
    finally:
        if own:
            registry.close()


def image_publisher(
    registry_url: str,
    *,
    layer_sizes: Sequence[int] = (2048, 4096),
    seed: str | int = 0,
    shared_layers: Callable[[str], Sequence[SharedLayer]] = lambda repository: (),
) -> Callable[[str, str, list[str]], str]:
    """``(repository, tag, arches) -> digest`` for :class:`eksd_adopt.local.upstream.UpstreamSimulator`.

    ``shared_layers(repository)`` names the layers an image shares with others (its base image).
    """

    def publish(repository: str, tag: str, arches: list[str]) -> str:
        platforms = [f"linux/{arch}" for arch in arches] or ["linux/amd64"]
        return publish_image(
            registry_url,
            repository,
            tag,
            platforms=platforms,
            layer_sizes=layer_sizes,
            shared_layers=shared_layers(repository),
            seed=seed,
        )

    return publish
