"""Configuration of the mirror-archive function, read from its environment on every invocation."""

from __future__ import annotations

from pydantic import Field

from eksd_adopt.deadline import TransferDeadline
from eksd_adopt.settings import UpstreamAccessSettings

MIN_PART_SIZE_MIB = 5  # S3's smallest part (except the last)
# The slowest a copy may be: 60 s, then 1 MiB/s. A 600 MiB archive then has 11 minutes, inside the
# mirror function's 15-minute timeout, where a healthy CDN takes seconds.
DEFAULT_ARCHIVE_DEADLINE = TransferDeadline(min_throughput=1024 * 1024, allowance=60.0)


class MirrorArchiveSettings(UpstreamAccessSettings):
    archive_bucket: str = Field(alias="ARCHIVE_BUCKET", min_length=3)
    part_size_mib: int = Field(default=16, alias="ARCHIVE_PART_SIZE_MIB", ge=MIN_PART_SIZE_MIB, le=512)
    key_prefix: str | None = Field(
        default=None, alias="ARCHIVE_KEY_PREFIX", description="refuse jobs whose target key is outside this prefix"
    )
    min_throughput: int = Field(
        default=DEFAULT_ARCHIVE_DEADLINE.min_throughput,
        alias="ARCHIVE_MIN_THROUGHPUT",
        ge=1024,
        description="bytes/s: a copy of N bytes must end within 60 s + N/min_throughput (a trickling CDN)",
    )

    @property
    def part_size(self) -> int:
        return self.part_size_mib * 1024 * 1024

    @property
    def deadline(self) -> TransferDeadline:
        return TransferDeadline(min_throughput=self.min_throughput, allowance=DEFAULT_ARCHIVE_DEADLINE.allowance)
