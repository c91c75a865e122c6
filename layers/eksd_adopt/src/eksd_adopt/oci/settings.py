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
    chunk_size_mib: int = Field(default=20, alias="MIRROR_CHUNK_MIB", ge=5, le=1024)  # ECR: parts <= 20 MiB
    repository_prefix: str | None = Field(
        default=None, alias="MIRROR_REPOSITORY_PREFIX", description="refuse jobs whose target repository is outside it"
    )

    @property
    def registry_host(self) -> str:
        return self.target_registry_url.split("://", 1)[1].rstrip("/")
