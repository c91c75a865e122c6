"""Configuration of the image mirror (the mirror-image function and the CLI), read from the environment per use."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from eksd_adopt.settings import UpstreamAccessSettings


class MirrorImageSettings(UpstreamAccessSettings):
    target_registry_url: str = Field(alias="TARGET_REGISTRY_URL", pattern=r"^https?://[^/\s]+/?$")
    target_registry_auth: Literal["ecr", "none"] = Field(default="ecr", alias="TARGET_REGISTRY_AUTH")
    ecr_control_plane: bool = Field(default=False, alias="ECR_CONTROL_PLANE")
    ecr_kms_key_arn: str | None = Field(default=None, alias="ECR_KMS_KEY_ARN")
    concurrency: int = Field(default=6, alias="MIRROR_CONCURRENCY", ge=1, le=32, description="blobs in flight")
    upload: Literal["put", "patch"] | None = Field(
        default=None,
        alias="MIRROR_UPLOAD",
        description="put: each blob streamed in its committing PUT; patch: PATCH then PUT (small blobs in one PUT);"
        " default patch for ECR (what docker push does there), put for other registries",
    )
    chunk_size_mib: int | None = Field(
        default=None, alias="MIRROR_CHUNK_MIB", ge=5, le=1024, description="patch: parts of this size (default one)"
    )
    repository_prefix: str | None = Field(
        default=None, alias="MIRROR_REPOSITORY_PREFIX", description="refuse jobs whose target repository is outside it"
    )

    @property
    def upload_mode(self) -> Literal["put", "patch"]:
        return self.upload or ("patch" if self.target_registry_auth == "ecr" else "put")

    @property
    def registry_host(self) -> str:
        return self.target_registry_url.split("://", 1)[1].rstrip("/")
