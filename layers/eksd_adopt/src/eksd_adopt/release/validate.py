"""Validation of a release manifest: upstream's schema plus the rules that make a release safe to adopt.

Every problem is reported with its location (``status.components[3].assets[0].image.uri``) and all
of them at once, so one run tells an operator everything that is wrong: a field of the wrong type is
reported and set aside, and the rest of its asset is still checked. A manifest that passes is one the
planner and the copiers accept on shape: the URL, checksum and image checks are the ones they apply
(:mod:`eksd_adopt.policy`, :mod:`eksd_adopt.reference`). At most :data:`MAX_FINDINGS_PER_RULE`
findings of one rule are listed, then one finding counting the rest, so a hostile manifest cannot
turn the report into the attack.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from eksd_adopt.errors import ManifestError
from eksd_adopt.policy import (
    CHANNEL,
    MAX_RELEASE_NUMBER,
    SHA256_HEX,
    SHA512_HEX,
    UpstreamPolicy,
    https_url_problem,
    url_path,
)
from eksd_adopt.reference import ImageReference, ReferenceError, is_digest
from eksd_adopt.release.model import API_VERSION, Archive, Asset, AssetType, Release
from eksd_adopt.release.yamlsafe import load_yaml_document

# ASCII-only, matched whole (fullmatch): see eksd_adopt.policy.
_SEMVER_TAG = re.compile(r"v(?P<major>[0-9]{1,3})\.(?P<minor>[0-9]{1,3})\.[0-9]{1,4}", re.ASCII)
_TAG_RELEASE_SUFFIX = re.compile(r"-eks-(?P<channel>[0-9]{1,3}-[0-9]{1,3})-(?P<number>[0-9]{1,19})\Z", re.ASCII)
# RFC 3339 date-time: a 'T' (or space, which RFC 3339 allows), seconds, and an explicit offset.
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})",
    re.ASCII,
)
MAX_FINDINGS_PER_RULE = 25
# Setting aside the fields with schema errors converges in one or two passes; this bounds the rest.
_MAX_SCHEMA_PASSES = 4


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
    """The outcome of validating one manifest: the findings listed, the totals, and the release when it could be read.

    ``findings`` holds at most :data:`MAX_FINDINGS_PER_RULE` findings of one rule plus one that counts
    the rest; ``error_count`` and ``warning_count`` count them all.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    source: str
    findings: list[Finding]
    error_count: int = 0
    warning_count: int = 0
    release: Release | None = None

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.WARNING]

    def ok(self, *, strict: bool = False) -> bool:
        return not self.error_count and not (strict and self.warning_count)

    def require_valid(self, *, strict: bool = False) -> Release:
        """The release, or a :class:`ManifestError` listing every problem."""
        if self.release is None or not self.ok(strict=strict):
            problems = self.errors + (self.warnings if strict else [])
            count = self.error_count + (self.warning_count if strict else 0)
            listing = "; ".join(str(f) for f in problems)
            raise ManifestError(f"{self.source}: {count} problem(s): {listing}")
        return self.release


class _Findings:
    """Collects findings, keeping the first few of each rule and counting the rest.

    A finding inside a field that already has a schema error is dropped: the schema error says it.
    """

    def __init__(self) -> None:
        self.shown: list[Finding] = []
        self._per_rule: dict[str, int] = {}
        self._omitted: dict[str, tuple[str, Severity, int]] = {}
        self.errors = 0
        self.warnings = 0
        self.schema_locations: set[str] = set()

    def add(self, location: str, message: str, rule: str, severity: Severity = Severity.ERROR) -> None:
        if rule != "schema" and self._under_schema_error(location):
            return
        if severity is Severity.ERROR:
            self.errors += 1
        else:
            self.warnings += 1
        shown = self._per_rule.get(rule, 0)
        if shown < MAX_FINDINGS_PER_RULE:
            self._per_rule[rule] = shown + 1
            self.shown.append(Finding(location=location, message=message, severity=severity, rule=rule))
            return
        first, worst, count = self._omitted.get(rule, (location, severity, 0))
        worst = Severity.ERROR if Severity.ERROR in (worst, severity) else Severity.WARNING
        self._omitted[rule] = (first, worst, count + 1)

    def _under_schema_error(self, location: str) -> bool:
        if not self.schema_locations:
            return False
        cut = len(location)
        while cut > 0:
            if location[:cut] in self.schema_locations:
                return True
            cut = max(location.rfind(".", 0, cut), location.rfind("[", 0, cut))
        return False

    def listing(self) -> list[Finding]:
        summaries = [
            Finding(
                location=first,
                message=f"{count} more {rule!r} finding(s) like the ones above are not listed (from here on)",
                severity=worst,
                rule=rule,
            )
            for rule, (first, worst, count) in self._omitted.items()
        ]
        return self.shown + summaries


def validate_manifest(
    data: bytes | str, *, policy: UpstreamPolicy | None = None, source: str = "manifest"
) -> ValidationReport:
    """Parse and validate a release manifest. Raises :class:`ManifestError` only when it is not YAML at all."""
    policy = policy or UpstreamPolicy()
    document = load_yaml_document(data, max_bytes=policy.max_manifest_bytes, what=source)
    findings = _Findings()
    if not isinstance(document, dict):
        findings.add("(document)", "the manifest must be a mapping", "schema")
        release = None
    else:
        release = _read_release(document, findings)
    if release is not None:
        _unknown_fields(release, policy, findings)
        ReleaseRules(release, policy, findings).check()
    return ValidationReport(
        source=source,
        findings=findings.listing(),
        error_count=findings.errors,
        warning_count=findings.warnings,
        release=release,
    )


def _read_release(document: dict[str, Any], findings: _Findings) -> Release | None:
    """The release, with every field that has a schema error reported and set aside (left unset)."""
    working = document
    copied: set[int] = set()  # the containers of ``working`` that are copies, free to change
    for _ in range(_MAX_SCHEMA_PASSES):
        try:
            return Release.model_validate(working)
        except ValidationError as exc:
            if working is document:
                working = dict(document)
                copied.add(id(working))
            for error in exc.errors():
                location = _location(error["loc"])
                if location not in findings.schema_locations:
                    findings.add(location, error["msg"], "schema")
                    findings.schema_locations.add(location)
                _set_aside(working, error["loc"], error["type"], copied)
    return None  # pragma: no cover - setting fields aside always converges well before this


def _set_aside(document: Any, loc: tuple[Any, ...], error_type: str, copied: set[int]) -> None:
    """Remove the value at ``loc`` so the model takes its default; a list item that should be an object becomes {}.

    The parsed document is not changed: each container on the way is copied (once) before it is, so
    a broken manifest pays for the path to each error, not for a copy of the whole document.
    """
    steps: list[tuple[Any, Any]] = []
    node: Any = document
    for key in loc:
        present = (isinstance(node, dict) and isinstance(key, str) and key in node) or (
            isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node)
        )
        if not present:
            break
        child: Any = node[key]
        if isinstance(child, dict | list) and id(child) not in copied:
            child = copy.copy(child)
            node[key] = child
            copied.add(id(child))
        steps.append((node, key))
        node = child
    last = True
    while steps:
        container, key = steps.pop()
        if isinstance(container, dict):
            del container[key]
            return
        if last and error_type in ("model_type", "model_attributes_type", "dict_type"):
            container[key] = {}  # an entry of components/assets that is not an object
            return
        last = False  # a bad item of a list of scalars: the whole list goes


def _location(parts: Iterable[Any]) -> str:
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(document)"


def _unknown_fields(model: BaseModel, policy: UpstreamPolicy, findings: _Findings, path: tuple[Any, ...] = ()) -> None:
    severity = Severity.ERROR if policy.unknown_fields == "error" else Severity.WARNING
    for key in model.model_extra or {}:
        findings.add(_location((*path, key)), "unknown field", "unknown-field", severity)
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        key = field.alias or name
        if isinstance(value, BaseModel):
            _unknown_fields(value, policy, findings, (*path, key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, BaseModel):
                    _unknown_fields(item, policy, findings, (*path, key, index))


class ReleaseRules:
    """The semantic rules on top of upstream's schema, each finding located in the manifest."""

    def __init__(self, release: Release, policy: UpstreamPolicy, findings: _Findings | None = None) -> None:
        self.release = release
        self.policy = policy
        self.findings = findings or _Findings()
        # (repository, tag) -> where first seen, its URI and imageDigest; upstream path -> where, checksums
        self._images: dict[tuple[str, str], tuple[str, str, str | None]] = {}
        self._archives: dict[str, tuple[str, str | None, str | None]] = {}

    def _error(self, location: str, message: str, rule: str) -> None:
        self.findings.add(location, message, rule)

    def _warn(self, location: str, message: str, rule: str) -> None:
        self.findings.add(location, message, rule, Severity.WARNING)

    def check(self) -> list[Finding]:
        self._check_header()
        channel_ok = self._check_identity()
        self._check_date()
        self._check_components(channel_ok)
        self._check_assets(channel_ok)
        return self.findings.listing()

    def _check_header(self) -> None:
        if self.release.api_version != API_VERSION:
            self._error("apiVersion", f"must be {API_VERSION!r}, got {self.release.api_version!r}", "api-version")
        if self.release.kind != "Release":
            self._error("kind", f"must be 'Release', got {self.release.kind!r}", "kind")

    def _check_identity(self) -> bool:
        spec = self.release.spec
        channel_ok = spec.channel is not None and CHANNEL.fullmatch(spec.channel) is not None
        if not channel_ok:
            self._error("spec.channel", f"must look like '1-30', got {_shown(spec.channel)}", "channel")
        number_ok = spec.number is not None and 1 <= spec.number <= MAX_RELEASE_NUMBER
        if not number_ok:
            self._error(
                "spec.number", f"must be an integer from 1 to {MAX_RELEASE_NUMBER}, got {_shown(spec.number)}", "number"
            )
        expected = f"kubernetes-{spec.channel}-eks-{spec.number}"
        if self.release.metadata.name != expected:
            self._error(
                "metadata.name", f"must be {_shown(expected)}, got {_shown(self.release.metadata.name)}", "name"
            )
        return channel_ok and number_ok

    def _check_date(self) -> None:
        date = self.release.status.date
        valid = date is not None and _RFC3339.fullmatch(date) is not None
        if valid:
            try:
                datetime.fromisoformat(date.replace("z", "Z"))  # type: ignore[union-attr]
            except ValueError:
                valid = False
        if not valid:
            self._error("status.date", f"must be an RFC 3339 date-time, got {_shown(date)}", "date")

    def _check_components(self, channel_ok: bool) -> None:
        components = self.release.status.components
        if not components:
            self._error("status.components", "a release must list its components", "components")
        seen: dict[str, int] = {}
        for index, component in enumerate(components):
            where = f"status.components[{index}]"
            if not component.name:
                self._error(f"{where}.name", "a component needs a name", "component-name")
            elif component.name in seen:
                self._error(
                    f"{where}.name",
                    f"component {component.name!r} is listed more than once (first at status.components"
                    f"[{seen[component.name]}])",
                    "unique-component",
                )
            else:
                seen[component.name] = index
        if "kubernetes" not in seen:
            self._error("status.components", "no component named 'kubernetes'", "kubernetes-component")
            return
        index = seen["kubernetes"]
        tag = components[index].git_tag
        match = _SEMVER_TAG.fullmatch(tag or "")
        where = f"status.components[{index}].gitTag"
        if not match:
            self._error(where, f"must be vMAJOR.MINOR.PATCH, got {_shown(tag)}", "kubernetes-version")
        elif channel_ok:
            channel = CHANNEL.fullmatch(self.release.channel)
            assert channel is not None  # channel_ok
            if (match["major"], match["minor"]) != (channel["major"], channel["minor"]):
                self._error(
                    where,
                    f"Kubernetes {tag} does not belong to channel {self.release.channel}",
                    "kubernetes-version",
                )

    def _check_assets(self, channel_ok: bool) -> None:
        seen: dict[str, str] = {}
        for ci, component in enumerate(self.release.status.components):
            for ai, asset in enumerate(component.assets):
                where = f"status.components[{ci}].assets[{ai}]"
                if not asset.name:
                    self._error(f"{where}.name", "an asset needs a name", "asset-name")
                elif asset.name in seen:
                    self._error(
                        f"{where}.name",
                        f"asset {asset.name!r} is listed more than once (first at {seen[asset.name]})",
                        "unique-asset",
                    )
                else:
                    seen[asset.name] = where
                for k, arch in enumerate(asset.arch or []):
                    if arch not in self.policy.known_arches:
                        known = ", ".join(self.policy.known_arches)
                        self._error(
                            f"{where}.arch[{k}]", f"unknown architecture {_shown(arch)} (known: {known})", "arch"
                        )
                if asset.type is AssetType.IMAGE:
                    self._check_image(where, asset, channel_ok)
                elif asset.type is AssetType.ARCHIVE:
                    self._check_archive(where, asset, channel_ok)
                else:
                    self._error(f"{where}.type", "must be 'Image' or 'Archive'", "asset-type")
                    # Whatever the type was meant to be, what the asset carries is still checked.
                    if asset.image is not None:
                        self._check_image(where, asset, channel_ok, shape=False)
                    if asset.archive is not None:
                        self._check_archive(where, asset, channel_ok, shape=False)

    def _check_image(self, where: str, asset: Asset, channel_ok: bool, *, shape: bool = True) -> None:
        if shape and asset.archive is not None:
            self._error(f"{where}.archive", "an Image asset must not carry an archive", "asset-shape")
        if asset.image is None:
            self._error(f"{where}.image", "an Image asset must carry an image", "asset-shape")
            return
        uri = asset.image.uri or ""
        reference: ImageReference | None = None
        try:
            reference = ImageReference.parse(uri)
        except ReferenceError as exc:
            self._error(f"{where}.image.uri", str(exc), "image-uri")
        if reference is not None:
            self._check_image_reference(f"{where}.image.uri", reference, channel_ok)
        digest = asset.image.image_digest
        if digest is None:
            self._warn(
                f"{where}.image.imageDigest",
                "no imageDigest: the image cannot be pinned before copying",
                "image-digest",
            )
        elif not is_digest(digest):
            self._error(
                f"{where}.image.imageDigest",
                f"must be 'sha256:' + 64 lowercase hex, got {_shown(digest)}",
                "image-digest",
            )
        if reference is not None and reference.tag and not reference.digest:
            self._check_same_image(where, reference, uri, digest)

    def _check_image_reference(self, where: str, reference: ImageReference, channel_ok: bool) -> None:
        if not self.policy.image_source_allowed(reference.host, reference.repository):
            rules = [r for r in self.policy.image_registries if r.host == reference.host]
            if not rules:
                allowed = ", ".join(r.host for r in self.policy.image_registries)
                self._error(where, f"registry {reference.host!r} is not allowed (allowed: {allowed})", "image-registry")
            else:
                prefixes = ", ".join(p for r in rules for p in r.path_prefixes)
                self._error(
                    where,
                    f"repository {reference.repository!r} is not under an allowed path ({prefixes})",
                    "image-registry",
                )
        if reference.digest:
            # The copier pins by imageDigest and copies by tag: a digest here would be dropped silently.
            self._error(where, "must name a tag only; an image's digest belongs in imageDigest", "image-uri")
        if not reference.tag:
            self._error(where, "the image reference has no tag", "image-tag")
            return
        suffix = _TAG_RELEASE_SUFFIX.search(reference.tag)
        if suffix and channel_ok:
            named = f"{suffix['channel']}-{suffix['number']}"
            if named != self.release.release_id:
                self._warn(
                    where,
                    f"tag {reference.tag!r} names release {named}, not {self.release.release_id}",
                    "image-tag-release",
                )

    def _check_same_image(self, where: str, reference: ImageReference, uri: str, digest: str | None) -> None:
        # The plan copies one image per target repository:tag; two entries must agree on what that is.
        assert reference.tag is not None
        key = (reference.repository, reference.tag)
        first = self._images.setdefault(key, (where, uri, digest))
        if first[0] == where:
            return
        if first[1] != uri:
            self._error(
                f"{where}.image.uri",
                f"{uri!r} and {first[1]!r} ({first[0]}) would be copied to the same repository and tag",
                "image-conflict",
            )
        elif first[2] != digest:
            self._error(
                f"{where}.image.imageDigest",
                f"{uri} is listed at {first[0]} with imageDigest {first[2]!r}, here with {digest!r}",
                "image-conflict",
            )

    def _check_archive(self, where: str, asset: Asset, channel_ok: bool, *, shape: bool = True) -> None:
        if shape and asset.image is not None:
            self._error(f"{where}.image", "an Archive asset must not carry an image", "asset-shape")
        if asset.archive is None:
            self._error(f"{where}.archive", "an Archive asset must carry an archive", "asset-shape")
            return
        archive = asset.archive
        self._check_archive_uri(f"{where}.archive.uri", archive.uri, channel_ok)
        if archive.sha256 is None or not SHA256_HEX.fullmatch(archive.sha256):
            self._error(f"{where}.archive.sha256", f"must be 64 lowercase hex, got {_shown(archive.sha256)}", "sha256")
        if archive.sha512 is None or not SHA512_HEX.fullmatch(archive.sha512):
            self._error(f"{where}.archive.sha512", f"must be 128 lowercase hex, got {_shown(archive.sha512)}", "sha512")
        self._check_same_archive(where, archive)

    def _check_archive_uri(self, where: str, uri: str | None, channel_ok: bool) -> None:
        # The archive copier refuses a job with the same check (eksd_adopt.archives.copier.check_job).
        problem = https_url_problem(uri, self.policy.archive_hosts) if uri is not None else "an archive needs a uri"
        if problem is not None:
            self._error(where, problem, "archive-uri")
            return
        assert uri is not None
        if channel_ok:
            prefix = f"/kubernetes-{self.release.channel}/releases/{self.release.number}/artifacts/"
            path = url_path(uri)
            if not path.startswith(prefix):
                self._error(where, f"path must be under {prefix}, got {path!r}", "archive-path")

    def _check_same_archive(self, where: str, archive: Archive) -> None:
        # Two assets naming the same file are copied to the same key: they must agree on its checksums.
        if archive.uri is None or https_url_problem(archive.uri, self.policy.archive_hosts) is not None:
            return
        key = url_path(archive.uri)
        first = self._archives.setdefault(key, (where, archive.sha256, archive.sha512))
        if first[0] != where and (first[1], first[2]) != (archive.sha256, archive.sha512):
            self._error(
                f"{where}.archive",
                f"{key} is listed at {first[0]} with other checksums; one file has one sha256 and sha512",
                "archive-conflict",
            )


def _shown(value: object, limit: int = 120) -> str:
    """A value for a message: repr, cut short (a hostile value must not make the report huge)."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"
