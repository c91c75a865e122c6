"""Pydantic models of the upstream `Release` and `ReleaseChannel` kinds (distro.eks.amazonaws.com/v1alpha1).

Field names, optionality and enums follow the upstream Go types and published CRD. Every field is
optional here because upstream's CRD has no ``required`` lists: the stricter rules live in
:mod:`eksd_adopt.release.validate`, where each can be reported with its location. Models accept
unknown fields so the validator can report all of them at once (as errors by default, as upstream's
strict parser does, or as warnings when the policy says so).

Types are strict, as upstream's Go struct (aws/eks-distro-build-tooling, release/api/v1alpha1) is:
``number`` is a Go ``int``, so ``number: '1'``, ``number: true`` or ``number: 1.0`` are refused rather
than coerced, and a string field takes a string only.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

API_VERSION = "distro.eks.amazonaws.com/v1alpha1"


class _UpstreamModel(BaseModel):
    # extra="allow" keeps unknown fields in ``model_extra`` so they are reported, not silently dropped.
    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)


class AssetType(StrEnum):
    IMAGE = "Image"
    ARCHIVE = "Archive"


class OperatingSystem(StrEnum):
    LINUX = "linux"
    DARWIN = "darwin"
    WINDOWS = "windows"


class ObjectMeta(_UpstreamModel):
    name: StrictStr | None = None
    namespace: StrictStr | None = None
    creation_timestamp: StrictStr | None = Field(default=None, alias="creationTimestamp")
    labels: dict[StrictStr, StrictStr] | None = None
    annotations: dict[StrictStr, StrictStr] | None = None


class Image(_UpstreamModel):
    uri: StrictStr | None = None
    image_digest: StrictStr | None = Field(default=None, alias="imageDigest")


class Archive(_UpstreamModel):
    uri: StrictStr | None = None
    sha256: StrictStr | None = None
    sha512: StrictStr | None = None


class Asset(_UpstreamModel):
    name: StrictStr | None = None
    type: AssetType | None = None
    description: StrictStr | None = None
    os: OperatingSystem | None = None
    arch: list[StrictStr] | None = None
    image: Image | None = None
    archive: Archive | None = None


class Component(_UpstreamModel):
    name: StrictStr | None = None
    git_commit: StrictStr | None = Field(default=None, alias="gitCommit")
    git_tag: StrictStr | None = Field(default=None, alias="gitTag")
    assets: list[Asset] = Field(default_factory=list)


class ReleaseSpec(_UpstreamModel):
    channel: StrictStr | None = None
    number: StrictInt | None = None
    build_repo_commit: StrictStr | None = Field(default=None, alias="buildRepoCommit")


class ReleaseStatus(_UpstreamModel):
    date: StrictStr | None = None
    components: list[Component] = Field(default_factory=list)


class Release(_UpstreamModel):
    api_version: StrictStr | None = Field(default=None, alias="apiVersion")
    kind: StrictStr | None = None
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ReleaseSpec = Field(default_factory=ReleaseSpec)
    status: ReleaseStatus = Field(default_factory=ReleaseStatus)

    @property
    def channel(self) -> str:
        return self.spec.channel or ""

    @property
    def number(self) -> int:
        return self.spec.number or 0

    @property
    def release_id(self) -> str:
        """The ledger key: ``<channel>-<number>``, e.g. ``1-30-58``."""
        return f"{self.channel}-{self.number}"

    @property
    def kubernetes_version(self) -> str | None:
        """Upstream has no such field: it is the ``gitTag`` of the component named ``kubernetes``."""
        for component in self.status.components:
            if component.name == "kubernetes":
                return component.git_tag
        return None

    def image_assets(self) -> list[tuple[Component, Asset]]:
        return [(c, a) for c in self.status.components for a in c.assets if a.type is AssetType.IMAGE]

    def archive_assets(self) -> list[tuple[Component, Asset]]:
        return [(c, a) for c in self.status.components for a in c.assets if a.type is AssetType.ARCHIVE]


class ReleaseChannelSpec(_UpstreamModel):
    sns_topic_arn: StrictStr | None = Field(default=None, alias="snsTopicARN")


class ReleaseChannelStatus(_UpstreamModel):
    active: StrictBool | None = None
    latest_release: StrictInt | None = Field(default=None, alias="latestRelease")


class ReleaseChannel(_UpstreamModel):
    """``releasechannels/<ch>.yaml``: the newest release number of a channel, overwritten on every release."""

    api_version: StrictStr | None = Field(default=None, alias="apiVersion")
    kind: StrictStr | None = None
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ReleaseChannelSpec = Field(default_factory=ReleaseChannelSpec)
    status: ReleaseChannelStatus = Field(default_factory=ReleaseChannelStatus)
