"""What upstream we trust: allow-listed hosts and paths, known architectures, unknown-field handling.

This is configuration, not code: every list has a default matching the real EKS-D upstream and can
be replaced from a JSON/YAML file (``EKSD_ADOPT_POLICY`` or ``--policy``) or a Lambda environment.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# The shapes live in eksd_adopt.shapes (no pydantic there); these names are also read from here.
from eksd_adopt.shapes import (
    CHANNEL,
    DEFAULT_TOPIC_ARN,
    MAX_RELEASE_NUMBER,
    SHA256_HEX,
    SHA512_HEX,
    https_url_problem,
    url_path,
)

__all__ = [
    "CHANNEL",
    "DEFAULT_TOPIC_ARN",
    "MAX_RELEASE_NUMBER",
    "SHA256_HEX",
    "SHA512_HEX",
    "ImageRegistryRule",
    "UpstreamPolicy",
    "https_url_problem",
    "url_path",
]


class ImageRegistryRule(BaseModel):
    """A registry host images may come from, and the repository path prefixes allowed on it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str
    path_prefixes: tuple[str, ...]


class UpstreamPolicy(BaseModel):
    """The allow-lists and switches the validator, fetchers and notification parser apply."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    image_registries: tuple[ImageRegistryRule, ...] = (
        ImageRegistryRule(host="public.ecr.aws", path_prefixes=("eks-distro/", "csi-components/")),
    )
    archive_hosts: tuple[str, ...] = ("distro.eks.amazonaws.com",)
    manifest_hosts: tuple[str, ...] = ("distro.eks.amazonaws.com",)
    known_arches: tuple[str, ...] = ("amd64", "arm64")
    unknown_fields: Literal["error", "warn"] = Field(
        default="error",
        description="Upstream's parser is strict; 'warn' lets a future upstream field through on purpose.",
    )
    topic_arn: str = DEFAULT_TOPIC_ARN
    max_manifest_bytes: int = 1024 * 1024
    registry_auth_hosts: tuple[str, ...] = Field(
        default=(),
        description="Hosts besides a registry's own that may serve its bearer tokens (a WWW-Authenticate"
        " realm), e.g. auth.docker.io; ECR Public serves its own (https://public.ecr.aws/token/).",
    )

    def image_source_allowed(self, host: str, repository: str) -> bool:
        """Whether an image at ``host/repository`` may be pulled: an allow-listed host and path prefix."""
        return any(
            rule.host == host and repository.startswith(prefix)
            for rule in self.image_registries
            for prefix in rule.path_prefixes
        )

    def allowed_hosts(self) -> frozenset[str]:
        """Every host an upstream fetch may name (before endpoint mapping)."""
        return frozenset([r.host for r in self.image_registries] + list(self.archive_hosts) + list(self.manifest_hosts))

    @classmethod
    def load(cls, path: str | Path | None = None) -> UpstreamPolicy:
        """Load from a JSON or YAML file, from ``EKSD_ADOPT_POLICY``, or return the defaults."""
        source = path or os.environ.get("EKSD_ADOPT_POLICY")
        if not source:
            return cls()
        text = Path(source).read_text(encoding="utf-8")
        if str(source).endswith((".yaml", ".yml")):
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            data = json.loads(text)
        return cls.model_validate(data)
