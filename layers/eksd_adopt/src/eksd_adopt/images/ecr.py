"""ECR's control plane through boto3: repositories on demand, and registry credentials; AWS errors become domain errors."""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from eksd_adopt.images.client import BasicCredentials
from eksd_adopt.images.errors import RegistryError, RegistryUnavailableError

if TYPE_CHECKING:
    from mypy_boto3_ecr import ECRClient

UNTAGGED_EXPIRY_DAYS = 14
_THROTTLING = frozenset({"ThrottlingException", "ServiceUnavailableException", "ServerException"})


def lifecycle_policy(untagged_days: int = UNTAGGED_EXPIRY_DAYS) -> str:
    """Expire untagged images (left by superseded or failed pushes) after ``untagged_days`` days.

    Platform manifests referenced by a tagged index are part of that index for ECR (OCI 1.1
    support), so they are not untagged images in the lifecycle's sense.
    """
    return json.dumps(
        {
            "rules": [
                {
                    "rulePriority": 1,
                    "description": "expire untagged images",
                    "selection": {
                        "tagStatus": "untagged",
                        "countType": "sinceImagePushed",
                        "countUnit": "days",
                        "countNumber": untagged_days,
                    },
                    "action": {"type": "expire"},
                }
            ]
        }
    )


def _error(exc: Exception, what: str) -> RegistryError:
    code = exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else ""
    if code in _THROTTLING or isinstance(exc, BotoCoreError):
        return RegistryUnavailableError(f"{what}: {exc}")
    return RegistryError(f"{what}: {exc}")


class EcrRepositories:
    """Creates target repositories idempotently: scan on push, KMS encryption, immutable tags, lifecycle rule."""

    def __init__(
        self,
        client: ECRClient | Any,
        *,
        kms_key_arn: str | None = None,
        untagged_days: int = UNTAGGED_EXPIRY_DAYS,
    ) -> None:
        self.client = client
        self.kms_key_arn = kms_key_arn
        self.untagged_days = untagged_days
        self._done: set[str] = set()
        self._lock = threading.Lock()

    def ensure_repository(self, name: str) -> None:
        with self._lock:
            if name in self._done:
                return
        encryption: dict[str, str] = {"encryptionType": "KMS"}
        if self.kms_key_arn:
            encryption["kmsKey"] = self.kms_key_arn
        try:
            self.client.create_repository(
                repositoryName=name,
                imageTagMutability="IMMUTABLE",
                imageScanningConfiguration={"scanOnPush": True},
                encryptionConfiguration=encryption,  # type: ignore[arg-type]
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "RepositoryAlreadyExistsException":
                raise _error(exc, f"create ECR repository {name}") from exc
        except BotoCoreError as exc:
            raise _error(exc, f"create ECR repository {name}") from exc
        try:
            # Always put: a run that died between create and this call left a repository without it.
            self.client.put_lifecycle_policy(
                repositoryName=name, lifecyclePolicyText=lifecycle_policy(self.untagged_days)
            )
        except (ClientError, BotoCoreError) as exc:
            raise _error(exc, f"lifecycle policy of ECR repository {name}") from exc
        with self._lock:
            self._done.add(name)


def ecr_credentials(client: ECRClient | Any) -> BasicCredentials:
    """Basic-auth credentials for the registry API, from ``GetAuthorizationToken`` (valid 12 hours)."""
    try:
        data = client.get_authorization_token()["authorizationData"][0]
    except (ClientError, BotoCoreError) as exc:
        raise _error(exc, "ECR GetAuthorizationToken") from exc
    except (KeyError, IndexError) as exc:
        raise RegistryError("ECR GetAuthorizationToken returned no authorization data") from exc
    return BasicCredentials.from_token(str(data["authorizationToken"]))


def ecr_client(**config: Any) -> ECRClient:
    """A boto3 ECR client (region and credentials from the environment, as in Lambda)."""
    import boto3
    from botocore.config import Config

    return boto3.client("ecr", config=Config(retries={"mode": "adaptive", "max_attempts": 8}, **config))
