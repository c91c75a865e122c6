"""Settings shared by the handlers and the CLI, as small pydantic mixins read from the environment."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator

from eksd_adopt.endpoints import EndpointMap


def split_list(value: str) -> list[str]:
    """Items of a comma-separated environment value, blanks dropped."""
    return [item.strip() for item in value.split(",") if item.strip()]


class EnvSettings(BaseModel):
    """Read per invocation from a mapping of environment variables (aliases are the variable names)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Self:
        # Empty values count as unset: CDK and the local runtime write every name, some blank.
        return cls.model_validate({k: v for k, v in environ.items() if v != ""})

    @classmethod
    def to_env(cls, **values: object) -> dict[str, str]:
        """The environment that configures these settings (given by field name), as :meth:`from_env` reads it.

        The stack builds each function's environment with it and the local runtime each in-process
        handler's, so neither spells a variable name. Values may be CDK tokens: nothing is validated here
        (the function validates its settings on every invocation).
        """
        environment: dict[str, str] = {}
        for name, value in values.items():
            field = cls.model_fields.get(name)
            if field is None or field.alias is None:
                raise TypeError(f"{cls.__name__} has no setting {name!r}")
            environment[field.alias] = _env_text(value)
        return environment

    @classmethod
    def select_env(cls, environment: Mapping[str, str]) -> dict[str, str]:
        """The part of ``environment`` this model reads (a function given shared values gets only its own)."""
        read = {field.alias for field in cls.model_fields.values() if field.alias}
        return {name: value for name, value in environment.items() if name in read}


def _env_text(value: object) -> str:
    """How a setting is spelled in the environment (what the validators of the models read back)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return ",".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


class UpstreamAccessSettings(EnvSettings):
    """How upstream is reached: the host-to-endpoint mapping and the upstream policy file."""

    endpoints: str = Field(default="", alias="EKSD_ADOPT_ENDPOINTS", description="comma-separated HOST=URL")
    policy_path: str | None = Field(default=None, alias="EKSD_ADOPT_POLICY")

    @field_validator("endpoints")
    @classmethod
    def _endpoints_parse(cls, value: str) -> str:
        EndpointMap.parse(split_list(value))  # raises ValueError naming the bad item
        return value

    @property
    def endpoint_map(self) -> EndpointMap:
        return EndpointMap.parse(split_list(self.endpoints))
