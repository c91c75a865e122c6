"""Configuration of the approval watch, read from the environment per invocation."""

from __future__ import annotations

from pydantic import Field

from eksd_adopt.settings import EnvSettings


class ApprovalWatchSettings(EnvSettings):
    approvals_table: str = Field(alias="APPROVALS_TABLE", min_length=3)
