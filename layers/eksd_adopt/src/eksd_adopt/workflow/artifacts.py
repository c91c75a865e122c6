"""The staged copy as the workflow sees it: adapters from the image and archive packages to the workflow's ports."""

from __future__ import annotations

import hashlib
import json

import httpx

from eksd_adopt.archives import ArchiveMissingError, ArchiveStore, promote_archive, rehash_stored_archive
from eksd_adopt.archives.s3store import S3ArchiveStore, s3_client
from eksd_adopt.workflow.config import WorkflowSettings
from eksd_adopt.workflow.errors import ArtifactMissingError
from eksd_adopt.workflow.ports import PlatformInfo


class BucketArchives:
    """Archives in the mirror bucket, through the archive package's store."""

    def __init__(self, store: ArchiveStore) -> None:
        self.store = store

    def archive_checksums(self, key: str) -> tuple[str, str]:
        if self.store.head(key) is None:
            raise ArtifactMissingError(f"{key} is not in the bucket")
        try:
            return rehash_stored_archive(self.store, key)
        except ArchiveMissingError as exc:
            raise ArtifactMissingError(str(exc)) from exc

    def promote_archive(self, source_key: str, target_key: str) -> None:
        try:
            promote_archive(self.store, source_key, target_key)
        except ArchiveMissingError as exc:
            raise ArtifactMissingError(str(exc)) from exc


class StagedCopy(BucketArchives):
    """Registry images and bucket archives together: what verification, smoke tests and promotion read."""

    def __init__(self, store: ArchiveStore, registry: RegistryImages) -> None:
        super().__init__(store)
        self.registry = registry

    def image_platforms(self, repository: str, digest: str) -> list[PlatformInfo]:
        return self.registry.image_platforms(repository, digest)

    def promote_image(self, source_repository: str, target_repository: str, digest: str, tag: str) -> None:
        self.registry.promote_image(source_repository, target_repository, digest, tag)


INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
_ACCEPT = ", ".join((*INDEX_TYPES, *MANIFEST_TYPES))


class RegistryImages:
    """Reads staged images back and promotes them by digest, through the OCI distribution API.

    Promotion mounts every blob from the staging repository (no bytes re-sent) and skips what the
    target holds; a registry that answers a mount with an upload session instead is an error.
    """

    def __init__(self, settings: WorkflowSettings, *, client: httpx.Client | None = None) -> None:
        self.base = settings.require("target_registry_url").rstrip("/")
        self.auth = settings.target_registry_auth
        self.client = client or httpx.Client(timeout=60, headers=self._auth_headers())

    def _auth_headers(self) -> dict[str, str]:
        if self.auth != "ecr":
            return {}
        import boto3  # ECR's token is a control-plane call; only ECR deployments make it

        token = boto3.client("ecr").get_authorization_token()["authorizationData"][0]["authorizationToken"]
        return {"Authorization": f"Basic {token}"}

    def _manifest(self, repository: str, reference: str) -> tuple[str, bytes]:
        response = self.client.get(f"{self.base}/v2/{repository}/manifests/{reference}", headers={"Accept": _ACCEPT})
        if response.status_code == 404:
            raise ArtifactMissingError(f"{repository}@{reference}: no such manifest in the registry")
        response.raise_for_status()
        body = response.content
        if reference.startswith("sha256:") and "sha256:" + hashlib.sha256(body).hexdigest() != reference:
            raise ArtifactMissingError(f"{repository}@{reference}: the registry served other bytes")
        return response.headers.get("content-type", "").split(";")[0], body

    def image_platforms(self, repository: str, digest: str) -> list[PlatformInfo]:
        media_type, body = self._manifest(repository, digest)
        index = json.loads(body)
        if media_type not in INDEX_TYPES and "manifests" not in index:
            raise ArtifactMissingError(f"{repository}@{digest} is a single-platform image, not an index")
        platforms: list[PlatformInfo] = []
        for entry in index.get("manifests", []):
            platform = entry.get("platform") or {}
            _, manifest_body = self._manifest(repository, entry["digest"])
            config_digest = json.loads(manifest_body)["config"]["digest"]
            config = self.client.get(f"{self.base}/v2/{repository}/blobs/{config_digest}")
            if config.status_code == 404:
                raise ArtifactMissingError(f"{repository}@{entry['digest']}: config blob {config_digest} missing")
            config.raise_for_status()
            data = config.json()
            platforms.append(
                PlatformInfo(
                    os=platform.get("os", ""),
                    arch=platform.get("architecture", ""),
                    variant=platform.get("variant"),
                    manifest_digest=entry["digest"],
                    config_os=data.get("os"),
                    config_arch=data.get("architecture"),
                )
            )
        return platforms

    def _mount(self, source: str, target: str, digest: str) -> None:
        if self.client.head(f"{self.base}/v2/{target}/blobs/{digest}").status_code == 200:
            return
        response = self.client.post(f"{self.base}/v2/{target}/blobs/uploads/", params={"mount": digest, "from": source})
        if response.status_code != 201:
            raise ArtifactMissingError(
                f"{target}: mounting {digest} from {source} was refused ({response.status_code})"
            )

    def _put_manifest(self, repository: str, reference: str, media_type: str, body: bytes) -> None:
        response = self.client.put(
            f"{self.base}/v2/{repository}/manifests/{reference}", content=body, headers={"Content-Type": media_type}
        )
        response.raise_for_status()

    def promote_image(self, source_repository: str, target_repository: str, digest: str, tag: str) -> None:
        head = self.client.head(f"{self.base}/v2/{target_repository}/manifests/{tag}", headers={"Accept": _ACCEPT})
        if head.status_code == 200 and head.headers.get("docker-content-digest") == digest:
            return  # already promoted
        index_type, index_body = self._manifest(source_repository, digest)
        for entry in json.loads(index_body).get("manifests", []):
            media_type, body = self._manifest(source_repository, entry["digest"])
            manifest = json.loads(body)
            for blob in [manifest["config"], *manifest.get("layers", [])]:
                self._mount(source_repository, target_repository, blob["digest"])
            self._put_manifest(target_repository, entry["digest"], media_type, body)
        self._put_manifest(target_repository, tag, index_type, index_body)


def _copy(settings: WorkflowSettings) -> StagedCopy:
    return StagedCopy(S3ArchiveStore(settings.bucket, client=s3_client()), RegistryImages(settings))


def staged_artifacts(settings: WorkflowSettings) -> StagedCopy:
    return _copy(settings)


def promoter(settings: WorkflowSettings) -> StagedCopy:
    return _copy(settings)
