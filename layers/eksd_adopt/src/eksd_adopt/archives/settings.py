"""Configuration of the mirror-archive function, read from its environment on every invocation."""

from __future__ import annotations

from pydantic import Field

from eksd_adopt.settings import UpstreamAccessSettings

MIN_PART_SIZE_MIB = 5  # S3's smallest part (except the last)


class MirrorArchiveSettings(UpstreamAccessSettings):
    archive_bucket: str = Field(alias="ARCHIVE_BUCKET", min_length=3)
    part_size_mib: int = Field(default=16, alias="ARCHIVE_PART_SIZE_MIB", ge=MIN_PART_SIZE_MIB, le=512)
    key_prefix: str | None = Field(
        default=None, alias="ARCHIVE_KEY_PREFIX", description="refuse jobs whose target key is outside this prefix"
    )

    @property
    def part_size(self) -> int:
        return self.part_size_mib * 1024 * 1024
