"""The target registry as the image code reaches it: one client (ECR's credentials where it is ECR), the
repository provisioner (ECR's control plane) and how blobs are sent. The mirror and promotion both take it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eksd_adopt.images.client import BasicCredentials, RegistryClient, default_http_client
from eksd_adopt.images.copier import RepositoryProvisioner, UploadMode
from eksd_adopt.images.settings import TargetRegistrySettings


@dataclass(frozen=True)
class TargetRegistry:
    client: RegistryClient
    repositories: RepositoryProvisioner | None  # None: pushes need no repository created first
    uploads: UploadMode


def connect_target(
    settings: TargetRegistrySettings,
    *,
    ecr: Any | None = None,
    connections: int = 16,
    upload: str | None = None,
    chunk_size: int | None = None,
) -> TargetRegistry:
    """The configured target; ``ecr`` is a boto3 ECR client (made on demand when the target needs one)."""
    credentials: BasicCredentials | None = None
    repositories: RepositoryProvisioner | None = None
    if settings.target_registry_auth == "ecr" or settings.ecr_control_plane:
        from eksd_adopt.images.ecr import EcrRepositories, ecr_client, ecr_credentials

        ecr = ecr or ecr_client()
        if settings.target_registry_auth == "ecr":
            credentials = ecr_credentials(ecr)
        if settings.ecr_control_plane:
            repositories = EcrRepositories(ecr, kms_key_arn=settings.ecr_kms_key_arn)
    client = RegistryClient(settings.target_url(), credentials=credentials, http=default_http_client(connections))
    return TargetRegistry(
        client, repositories, UploadMode.for_target(ecr=settings.targets_ecr, upload=upload, chunk_size=chunk_size)
    )
