"""Validation of a release manifest: upstream's schema plus the rules that make a release safe to adopt.

Every problem is reported with its location (``status.components[3].assets[0].image.uri``) and all
of them at once, so one run tells an operator everything that is wrong.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, ValidationError

from eksd_adopt.errors import ManifestError
from eksd_adopt.policy import UpstreamPolicy
from eksd_adopt.reference import DIGEST_PATTERN, ImageReference, ReferenceError
from eksd_adopt.release.model import API_VERSION, AssetType, Release
from eksd_adopt.release.yamlsafe import load_yaml_document

_CHANNEL = re.compile(r"^(\d+)-(\d+)$")
_SEMVER_TAG = re.compile(r"^v(\d+)\.(\d+)\.(\d+)$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_SHA512 = re.compile(r"^[0-9a-f]{128}$")
_TAG_RELEASE_SUFFIX = re.compile(r"-eks-(\d+-\d+)-(\d+)$")
# RFC 3339 date-time: a 'T' (or space, which RFC 3339 allows), seconds, and an explicit offset.
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


class Finding(BaseModel):
    model_config = ConfigDict(frozen=True)

    location: str
    message: str
    severity: Severity = Severity.ERROR
    rule: str

    def __str__(self) -> str:
        return f"{self.severity.value}: {self.location}: {self.message} [{self.rule}]"


class ValidationReport(BaseModel):
    """The outcome of validating one manifest: every finding, and the release when it could be read."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    source: str
    findings: list[Finding]
    release: Release | None = None

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.WARNING]

    def ok(self, *, strict: bool = False) -> bool:
        return not self.errors and not (strict and self.warnings)

    def require_valid(self, *, strict: bool = False) -> Release:
        """The release, or a :class:`ManifestError` listing every problem."""
        if self.release is None or not self.ok(strict=strict):
            problems = self.errors + (self.warnings if strict else [])
            listing = "; ".join(str(f) for f in problems)
            raise ManifestError(f"{self.source}: {len(problems)} problem(s): {listing}")
        return self.release


def validate_manifest(
    data: bytes | str, *, policy: UpstreamPolicy | None = None, source: str = "manifest"
) -> ValidationReport:
    """Parse and validate a release manifest. Raises :class:`ManifestError` only when it is not YAML at all."""
    policy = policy or UpstreamPolicy()
    document = load_yaml_document(data, max_bytes=policy.max_manifest_bytes, what=source)
    if not isinstance(document, dict):
        finding = Finding(location="(document)", message="the manifest must be a mapping", rule="schema")
        return ValidationReport(source=source, findings=[finding])
    try:
        release = Release.model_validate(document)
    except ValidationError as exc:
        return ValidationReport(source=source, findings=list(_schema_findings(exc)))
    findings = list(_unknown_fields(release, policy)) + list(ReleaseRules(release, policy).check())
    return ValidationReport(source=source, findings=findings, release=release)


def _location(parts: Iterable[Any]) -> str:
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(document)"


def _schema_findings(exc: ValidationError) -> Iterable[Finding]:
    for error in exc.errors():
        yield Finding(location=_location(error["loc"]), message=error["msg"], rule="schema")


def _unknown_fields(model: BaseModel, policy: UpstreamPolicy, path: tuple[Any, ...] = ()) -> Iterable[Finding]:
    severity = Severity.ERROR if policy.unknown_fields == "error" else Severity.WARNING
    for key in model.model_extra or {}:
        yield Finding(
            location=_location((*path, key)), message="unknown field", severity=severity, rule="unknown-field"
        )
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        key = field.alias or name
        if isinstance(value, BaseModel):
            yield from _unknown_fields(value, policy, (*path, key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, BaseModel):
                    yield from _unknown_fields(item, policy, (*path, key, index))


class ReleaseRules:
    """The semantic rules on top of upstream's schema, each finding located in the manifest."""

    def __init__(self, release: Release, policy: UpstreamPolicy) -> None:
        self.release = release
        self.policy = policy
        self.findings: list[Finding] = []

    def _error(self, location: str, message: str, rule: str) -> None:
        self.findings.append(Finding(location=location, message=message, rule=rule))

    def _warn(self, location: str, message: str, rule: str) -> None:
        self.findings.append(Finding(location=location, message=message, severity=Severity.WARNING, rule=rule))

    def check(self) -> list[Finding]:
        self._check_header()
        channel_ok = self._check_identity()
        self._check_date()
        self._check_components(channel_ok)
        self._check_assets(channel_ok)
        return self.findings

    def _check_header(self) -> None:
        if self.release.api_version != API_VERSION:
            self._error("apiVersion", f"must be {API_VERSION!r}, got {self.release.api_version!r}", "api-version")
        if self.release.kind != "Release":
            self._error("kind", f"must be 'Release', got {self.release.kind!r}", "kind")

    def _check_identity(self) -> bool:
        spec = self.release.spec
        channel_ok = bool(spec.channel and _CHANNEL.match(spec.channel))
        if not channel_ok:
            self._error("spec.channel", f"must look like '1-30', got {spec.channel!r}", "channel")
        if spec.number is None or spec.number < 1:
            self._error("spec.number", f"must be an integer >= 1, got {spec.number!r}", "number")
        expected = f"kubernetes-{spec.channel}-eks-{spec.number}"
        if self.release.metadata.name != expected:
            self._error("metadata.name", f"must be {expected!r}, got {self.release.metadata.name!r}", "name")
        return channel_ok and spec.number is not None and spec.number >= 1

    def _check_date(self) -> None:
        date = self.release.status.date
        valid = bool(date and _RFC3339.match(date))
        if valid:
            try:
                datetime.fromisoformat(date.replace("z", "Z"))  # type: ignore[union-attr]
            except ValueError:
                valid = False
        if not valid:
            self._error("status.date", f"must be an RFC 3339 date-time, got {date!r}", "date")

    def _check_components(self, channel_ok: bool) -> None:
        components = self.release.status.components
        if not components:
            self._error("status.components", "a release must list its components", "components")
        names = Counter(c.name for c in components)
        for index, component in enumerate(components):
            where = f"status.components[{index}]"
            if not component.name:
                self._error(f"{where}.name", "a component needs a name", "component-name")
            elif names[component.name] > 1:
                self._error(
                    f"{where}.name", f"component {component.name!r} is listed more than once", "unique-component"
                )
        kubernetes = [(i, c) for i, c in enumerate(components) if c.name == "kubernetes"]
        if not kubernetes:
            self._error("status.components", "no component named 'kubernetes'", "kubernetes-component")
            return
        index, component = kubernetes[0]
        match = _SEMVER_TAG.match(component.git_tag or "")
        where = f"status.components[{index}].gitTag"
        if not match:
            self._error(where, f"must be vMAJOR.MINOR.PATCH, got {component.git_tag!r}", "kubernetes-version")
        elif channel_ok:
            major, minor = _CHANNEL.match(self.release.spec.channel or "").groups()  # type: ignore[union-attr]
            if (match[1], match[2]) != (major, minor):
                self._error(
                    where,
                    f"Kubernetes {component.git_tag} does not belong to channel {self.release.spec.channel}",
                    "kubernetes-version",
                )

    def _check_assets(self, channel_ok: bool) -> None:
        assets = [(ci, ai, a) for ci, c in enumerate(self.release.status.components) for ai, a in enumerate(c.assets)]
        names = Counter(a.name for _, _, a in assets)
        for ci, ai, asset in assets:
            where = f"status.components[{ci}].assets[{ai}]"
            if not asset.name:
                self._error(f"{where}.name", "an asset needs a name", "asset-name")
            elif names[asset.name] > 1:
                self._error(f"{where}.name", f"asset {asset.name!r} is listed more than once", "unique-asset")
            for k, arch in enumerate(asset.arch or []):
                if arch not in self.policy.known_arches:
                    known = ", ".join(self.policy.known_arches)
                    self._error(f"{where}.arch[{k}]", f"unknown architecture {arch!r} (known: {known})", "arch")
            if asset.type is AssetType.IMAGE:
                self._check_image(where, asset, channel_ok)
            elif asset.type is AssetType.ARCHIVE:
                self._check_archive(where, asset, channel_ok)
            else:
                self._error(f"{where}.type", "must be 'Image' or 'Archive'", "asset-type")

    def _check_image(self, where: str, asset: Any, channel_ok: bool) -> None:
        if asset.archive is not None:
            self._error(f"{where}.archive", "an Image asset must not carry an archive", "asset-shape")
        if asset.image is None:
            self._error(f"{where}.image", "an Image asset must carry an image", "asset-shape")
            return
        uri = asset.image.uri or ""
        try:
            reference = ImageReference.parse(uri)
        except ReferenceError as exc:
            self._error(f"{where}.image.uri", str(exc), "image-uri")
            reference = None
        if reference is not None:
            self._check_image_reference(f"{where}.image.uri", reference, channel_ok)
        digest = asset.image.image_digest
        if digest is None:
            self._warn(
                f"{where}.image.imageDigest",
                "no imageDigest: the image cannot be pinned before copying",
                "image-digest",
            )
        elif not DIGEST_PATTERN.fullmatch(digest):
            self._error(
                f"{where}.image.imageDigest", f"must be 'sha256:' + 64 lowercase hex, got {digest!r}", "image-digest"
            )

    def _check_image_reference(self, where: str, reference: ImageReference, channel_ok: bool) -> None:
        rules = [r for r in self.policy.image_registries if r.host == reference.host]
        if not rules:
            allowed = ", ".join(r.host for r in self.policy.image_registries)
            self._error(where, f"registry {reference.host!r} is not allowed (allowed: {allowed})", "image-registry")
        elif not any(reference.repository.startswith(p) for r in rules for p in r.path_prefixes):
            prefixes = ", ".join(p for r in rules for p in r.path_prefixes)
            self._error(
                where,
                f"repository {reference.repository!r} is not under an allowed path ({prefixes})",
                "image-registry",
            )
        if not reference.tag:
            self._error(where, "the image reference has no tag", "image-tag")
            return
        suffix = _TAG_RELEASE_SUFFIX.search(reference.tag)
        if suffix and channel_ok:
            named = f"{suffix[1]}-{suffix[2]}"
            if named != self.release.release_id:
                self._warn(
                    where,
                    f"tag {reference.tag!r} names release {named}, not {self.release.release_id}",
                    "image-tag-release",
                )

    def _check_archive(self, where: str, asset: Any, channel_ok: bool) -> None:
        if asset.image is not None:
            self._error(f"{where}.image", "an Archive asset must not carry an image", "asset-shape")
        if asset.archive is None:
            self._error(f"{where}.archive", "an Archive asset must carry an archive", "asset-shape")
            return
        archive = asset.archive
        uri = archive.uri or ""
        parts = urlsplit(uri)
        if parts.scheme != "https":
            self._error(f"{where}.archive.uri", f"must be an https URL, got {uri!r}", "archive-uri")
        elif parts.hostname not in self.policy.archive_hosts or parts.port is not None:
            allowed = ", ".join(self.policy.archive_hosts)
            self._error(
                f"{where}.archive.uri", f"host {parts.netloc!r} is not allowed (allowed: {allowed})", "archive-uri"
            )
        if channel_ok and parts.scheme == "https":
            prefix = f"/kubernetes-{self.release.channel}/releases/{self.release.number}/artifacts/"
            if not parts.path.startswith(prefix) or ".." in parts.path.split("/") or parts.query or parts.fragment:
                self._error(f"{where}.archive.uri", f"path must be under {prefix}, got {parts.path!r}", "archive-path")
        if not _SHA256.match(archive.sha256 or ""):
            self._error(f"{where}.archive.sha256", f"must be 64 lowercase hex, got {archive.sha256!r}", "sha256")
        if not _SHA512.match(archive.sha512 or ""):
            self._error(f"{where}.archive.sha512", f"must be 128 lowercase hex, got {archive.sha512!r}", "sha512")
