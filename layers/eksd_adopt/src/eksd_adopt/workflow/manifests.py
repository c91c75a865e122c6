"""Where a release's manifests live in the bucket, and how a manifest is rewritten to point at a stage's copy."""

from __future__ import annotations

import copy
from typing import Any

import yaml

from eksd_adopt.archives.manifests import manifest_key
from eksd_adopt.plan import CopyPlan, stage_key_prefix
from eksd_adopt.reference import ImageReference


def stage_repository_of(plan: CopyPlan, staged_repository: str, stage: str) -> str:
    """The stage's repository for a staging repository: ``<prefix>/staging/x`` becomes ``<prefix>/<stage>/x``."""
    head = f"{plan.prefix}/{plan.stage}/"
    if not staged_repository.startswith(head):
        raise ValueError(f"{staged_repository} is not under {head}")
    return f"{plan.prefix}/{stage}/{staged_repository.removeprefix(head)}"


def stage_key_of(plan: CopyPlan, staged_key: str, stage: str) -> str:
    head = stage_key_prefix(plan.prefix, plan.stage, plan.channel, plan.number)
    if not staged_key.startswith(head):
        raise ValueError(f"{staged_key} is not under {head}")
    return stage_key_prefix(plan.prefix, stage, plan.channel, plan.number) + staged_key.removeprefix(head)


def rewrite_manifest(
    document: dict[str, Any],
    *,
    images: dict[str, tuple[str, str]],
    archives: dict[str, str],
) -> dict[str, Any]:
    """A copy of ``document`` whose image URIs are ``<registry>/<repo>@<digest>`` and archive URIs ``s3://...``.

    ``images`` maps an upstream ``repository:tag`` (host included) to (registry/repository, digest);
    ``archives`` maps an upstream URL to its location. Every asset must be mapped: a manifest that
    still names upstream would send consumers outside the organisation.
    """
    result = copy.deepcopy(document)
    for component in result.get("status", {}).get("components", []) or []:
        for asset in component.get("assets", []) or []:
            if asset.get("image"):
                ref = ImageReference.parse(asset["image"]["uri"])
                key = str(ImageReference(ref.host, ref.repository, ref.tag))
                if key not in images:
                    raise ValueError(f"image {key} of asset {asset.get('name')} has no staged copy")
                repository, digest = images[key]
                asset["image"]["uri"] = f"{repository}@{digest}"
                asset["image"]["imageDigest"] = digest
            if asset.get("archive"):
                uri = asset["archive"]["uri"]
                if uri not in archives:
                    raise ValueError(f"archive {uri} of asset {asset.get('name')} has no staged copy")
                asset["archive"]["uri"] = archives[uri]
    return result


def dump_manifest(document: dict[str, Any]) -> bytes:
    return yaml.safe_dump(document, sort_keys=False).encode()


def load_manifest(body: bytes) -> dict[str, Any]:
    data = yaml.safe_load(body)
    if not isinstance(data, dict):
        raise ValueError("a release manifest must be a YAML mapping")
    return data


def component_versions(document: dict[str, Any]) -> dict[str, str]:
    """Component name to gitTag (the version), as the approvers' diff compares them."""
    versions: dict[str, str] = {}
    for component in document.get("status", {}).get("components", []) or []:
        name = component.get("name")
        if name:
            versions[name] = str(component.get("gitTag") or component.get("gitCommit") or "")
    return versions


__all__ = [
    "component_versions",
    "dump_manifest",
    "load_manifest",
    "manifest_key",
    "rewrite_manifest",
    "stage_key_of",
    "stage_repository_of",
]
