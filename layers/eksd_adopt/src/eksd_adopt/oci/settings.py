"""Configuration of the image mirror (the mirror-image function and the CLI), read from the environment per use."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from eksd_adopt.endpoints import EndpointMap


class MirrorImageSettings(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    target_registry_url: str = Field(alias="TARGET_REGISTRY_URL", pattern=r"^https?://[^/\s]+/?$")
    target_registry_auth: Literal["ecr", "none"] = Field(default="ecr", alias="TARGET_REGISTRY_AUTH")
    ecr_control_plane: bool = Field(default=False, alias="ECR_CONTROL_PLANE")
    ecr_kms_key_arn: str | None = Field(default=None, alias="ECR_KMS_KEY_ARN")
    endpoints: str = Field(default="", alias="EKSD_ADOPT_ENDPOINTS", description="comma-separated HOST=URL")
    concurrency: int = Field(default=6, alias="MIRROR_CONCURRENCY", ge=1, le=32, description="blobs in flight")
    chunk_size_mib: int = Field(default=20, alias="MIRROR_CHUNK_MIB", ge=5, le=1024)  # ECR: parts <= 20 MiB
    repository_prefix: str | None = Field(
        default=None, alias="MIRROR_REPOSITORY_PREFIX", description="refuse jobs whose target repository is outside it"
    )
    policy_path: str | None = Field(default=None, alias="EKSD_ADOPT_POLICY")

    @field_validator("endpoints")
    @classmethod
    def _endpoints_parse(cls, value: str) -> str:
        EndpointMap.parse(_split(value))  # raises ValueError naming the bad item
        return value

    @property
    def endpoint_map(self) -> EndpointMap:
        return EndpointMap.parse(_split(self.endpoints))

    @property
    def registry_host(self) -> str:
        return self.target_registry_url.split("://", 1)[1].rstrip("/")

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> MirrorImageSettings:
        return cls.model_validate({k: v for k, v in environ.items() if v != ""})


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]
