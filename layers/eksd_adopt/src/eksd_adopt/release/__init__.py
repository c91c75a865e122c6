"""EKS-D release manifests: models faithful to upstream, safe loading, validation and planning."""

from eksd_adopt.release.model import (
    Archive,
    Asset,
    AssetType,
    Component,
    Image,
    OperatingSystem,
    Release,
    ReleaseChannel,
)
from eksd_adopt.release.validate import Finding, ValidationReport, validate_manifest

__all__ = [
    "Archive",
    "Asset",
    "AssetType",
    "Component",
    "Finding",
    "Image",
    "OperatingSystem",
    "Release",
    "ReleaseChannel",
    "ValidationReport",
    "validate_manifest",
]
