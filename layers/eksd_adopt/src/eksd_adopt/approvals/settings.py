"""Configuration of the approval watch, read from the environment per invocation."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field


class ApprovalWatchSettings(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    approvals_table: str = Field(alias="APPROVALS_TABLE", min_length=3)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ApprovalWatchSettings:
        return cls.model_validate(dict(environ))
