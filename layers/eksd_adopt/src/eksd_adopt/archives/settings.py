"""Configuration of the mirror-archive function, read from its environment on every invocation."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, field_validator

from eksd_adopt.endpoints import EndpointMap

MIN_PART_SIZE_MIB = 5  # S3's smallest part (except the last)


class MirrorArchiveSettings(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    archive_bucket: str = Field(alias="ARCHIVE_BUCKET", min_length=3)
    endpoints: str = Field(default="", alias="EKSD_ADOPT_ENDPOINTS", description="comma-separated HOST=URL")
    part_size_mib: int = Field(default=16, alias="ARCHIVE_PART_SIZE_MIB", ge=MIN_PART_SIZE_MIB, le=512)
    key_prefix: str | None = Field(
        default=None, alias="ARCHIVE_KEY_PREFIX", description="refuse jobs whose target key is outside this prefix"
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
    def part_size(self) -> int:
        return self.part_size_mib * 1024 * 1024

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> MirrorArchiveSettings:
        return cls.model_validate({k: v for k, v in environ.items() if v != ""})


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]
