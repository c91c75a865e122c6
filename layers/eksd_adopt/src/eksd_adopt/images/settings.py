"""Configuration of the image mirror (the images_mirror function and the CLI) and of the target registry, read per use."""

from __future__ import annotations

import re
from typing import Literal, Self

from pydantic import Field, model_validator

from eksd_adopt.settings import EnvSettings, UpstreamAccessSettings

# A private ECR registry's host: <account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn]
_ECR_HOST = re.compile(r"[0-9]{12}\.dkr\.ecr(-fips)?\.[a-z0-9-]{1,32}\.amazonaws\.com(\.cn)?(:443)?", re.ASCII)


def is_ecr_target(registry_url: str, auth: str) -> bool:
    """Whether blobs go to ECR: its credentials are used, or the URL names a private ECR registry."""
    host = registry_url.split("://", 1)[-1].rstrip("/").lower()
    return auth == "ecr" or _ECR_HOST.fullmatch(host) is not None


class TargetRegistrySettings(EnvSettings):
    """The private registry images go to, and how it is reached: every function and command that writes
    or reads images there takes these (``images.registry.connect_target`` builds the client from them)."""

    target_registry_url: str | None = Field(default=None, alias="TARGET_REGISTRY_URL", pattern=r"^https?://[^/\s]+/?$")
    target_registry_auth: Literal["ecr", "none"] = Field(default="ecr", alias="TARGET_REGISTRY_AUTH")
    # ECR needs a repository before a push: the mirror creates staging's, promotion each stage's.
    ecr_control_plane: bool = Field(default=False, alias="ECR_CONTROL_PLANE")
    ecr_kms_key_arn: str | None = Field(default=None, alias="ECR_KMS_KEY_ARN")

    def target_url(self) -> str:
        if not self.target_registry_url:
            raise ValueError("TARGET_REGISTRY_URL is not set")
        return self.target_registry_url

    @property
    def targets_ecr(self) -> bool:
        return is_ecr_target(self.target_url(), self.target_registry_auth)

    @property
    def registry_host(self) -> str:
        """The host[:port] image URIs in stage manifests name (the registry URL without its scheme)."""
        return self.target_url().split("://", 1)[-1].rstrip("/")


class MirrorImageSettings(UpstreamAccessSettings, TargetRegistrySettings):
    concurrency: int = Field(default=6, alias="MIRROR_CONCURRENCY", ge=1, le=32, description="blobs in flight")
    upload: Literal["put", "patch"] | None = Field(
        default=None,
        alias="MIRROR_UPLOAD",
        description="put: each blob streamed in its committing PUT; patch: PATCH then PUT (small blobs in one PUT);"
        " default patch for ECR (what docker push does there), put for other registries",
    )
    chunk_size_mib: int | None = Field(
        default=None,
        alias="MIRROR_CHUNK_MIB",
        ge=5,
        le=1024,
        description="patch: parts of this size (default one); refused for ECR, which keeps one PATCH per session",
    )
    repository_prefix: str | None = Field(
        default=None, alias="MIRROR_REPOSITORY_PREFIX", description="refuse jobs whose target repository is outside it"
    )

    @model_validator(mode="after")
    def _no_chunks_for_ecr(self) -> Self:
        self.target_url()  # the mirror has nowhere to copy to without one
        if self.chunk_size_mib is not None and self.targets_ecr:
            # ECR answers each PATCH after a session's first with 201 but has been reported to drop
            # its body (aws/containers-roadmap#2831): chunks would corrupt every upload over one part.
            raise ValueError(
                "MIRROR_CHUNK_MIB (--chunk-mib) cannot be used with an ECR target: ECR keeps only the first"
                " PATCH of an upload session, so each blob goes in one PATCH; leave it unset"
            )
        return self

    @property
    def upload_mode(self) -> Literal["put", "patch"]:
        return self.upload or ("patch" if self.targets_ecr else "put")
