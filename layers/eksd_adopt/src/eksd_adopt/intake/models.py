"""What the intake takes in and gives back: adoption requests, their outcomes, reconcile reports."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Inline a manifest up to this size (today's are 30-60 KB); the rest of the input is well under 1 KiB.
INLINE_MANIFEST_MAX_BYTES = 128 * 1024


class AdoptRequest(BaseModel):
    """One request to adopt a release: from a notification, the reconciler or an operator.

    Either ``channel`` and ``number``, or ``manifest_url`` (the release is then read from the manifest).
    ``retry_not_found_until``: while it is in the future a 403/404 raises :class:`ManifestNotPublishedError`
    (the caller retries later); after it, or when None, the release is left ``detected`` for the reconciler.
    """

    model_config = ConfigDict(frozen=True)

    channel: str | None = None
    number: int | None = Field(default=None, ge=1)
    manifest_url: str | None = None
    announced: bool = False
    message_id: str | None = None
    force: bool = False
    retry_not_found_until: datetime | None = None

    @model_validator(mode="after")
    def _one_way_to_name_it(self) -> AdoptRequest:
        if self.manifest_url is None and (self.channel is None or self.number is None):
            raise ValueError("name the release by channel and number, or give its manifest_url")
        return self


class AdoptOutcome(StrEnum):
    STARTED = "started"  # this call started the adoption (or resumed one whose start had failed)
    ALREADY_KNOWN = "already_known"  # the ledger has it: a redelivery, a duplicate or a lost race
    SUPERSEDED = "superseded"  # older than the newest adopted release of its channel: recorded, not started
    INVALID = "invalid"  # the manifest failed validation: recorded with its problems
    NOT_FOUND = "not_found"  # upstream still answers 403/404: left ``detected`` for the reconciler
    UNTRACKED = "untracked"  # a channel this deployment does not track: acknowledged, nothing recorded


class AdoptResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    release_id: str
    outcome: AdoptOutcome
    status: str | None = None  # the ledger status after this call
    execution_arn: str | None = None
    execution_name: str | None = None
    announced: bool = False
    problems: list[str] = Field(default_factory=list)


class ChannelTracking(BaseModel):
    """Which channels this deployment adopts: an explicit list, or every channel from a minor on (or all)."""

    model_config = ConfigDict(frozen=True)

    explicit: tuple[str, ...] = ()
    from_minor: str | None = None
    max_channels: int = 40  # probing stops after this many minors past ``from_minor``, whatever the CDN says

    def tracks(self, channel: str) -> bool:
        if self.explicit:
            return channel in self.explicit
        if self.from_minor is not None:
            return _minor_key(channel) >= _minor_key(self.from_minor)
        return True


def _minor_key(channel: str) -> tuple[int, int]:
    major, _, minor = channel.partition("-")
    return int(major), int(minor)


class ChannelView(BaseModel):
    """What ``releasechannels/<ch>.yaml`` said when the reconciler read it."""

    model_config = ConfigDict(frozen=True)

    channel: str
    latest_release: int
    active: bool


class ReconcileReport(BaseModel):
    """One reconciler run: channels read, releases first seen, and what became of each release it acted on."""

    channels: list[ChannelView] = Field(default_factory=list)
    detected: list[str] = Field(default_factory=list)  # new ledger entries (status ``detected``)
    results: list[AdoptResult] = Field(default_factory=list)
    missed: list[str] = Field(default_factory=list)  # acted on with no notification ever received
    pending: list[str] = Field(default_factory=list)  # not started yet, left for a later run (grace, a live claim)
    errors: dict[str, str] = Field(default_factory=dict)  # channel or release id -> what went wrong
    started_at: datetime | None = None

    @property
    def started(self) -> list[str]:
        return [r.release_id for r in self.results if r.outcome is AdoptOutcome.STARTED]
