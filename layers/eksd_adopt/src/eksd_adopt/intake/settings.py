"""Configuration of the intake and reconciler functions (and the CLI), read from the environment per invocation."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from eksd_adopt.intake.models import ChannelTracking
from eksd_adopt.policy import CHANNEL, DEFAULT_TOPIC_ARN
from eksd_adopt.settings import UpstreamAccessSettings, split_list


class IntakeSettings(UpstreamAccessSettings):
    """Both handlers read the same model; each uses what it needs."""

    ledger_table: str = Field(alias="LEDGER_TABLE", min_length=3)
    # pydantic's patterns are Rust regexes, whose \w is Unicode: the partition is spelled out.
    state_machine_arn: str = Field(alias="STATE_MACHINE_ARN", pattern=r"^arn:aws[a-z-]*:states:[a-z0-9-]+:[0-9]{12}:")
    upstream_topic_arn: str = Field(
        default=DEFAULT_TOPIC_ARN, alias="UPSTREAM_TOPIC_ARN", pattern=r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:"
    )
    events_topic_arn: str | None = Field(default=None, alias="EVENTS_TOPIC_ARN")
    tracked_channels: tuple[str, ...] = Field(default=(), alias="TRACKED_CHANNELS")
    track_from_minor: str | None = Field(default=None, alias="TRACK_FROM_MINOR")
    # How long a 403/404 for an announced release is retried (the message comes back after the
    # queue's visibility timeout) before the release is left ``detected`` for the reconciler.
    not_found_retry_seconds: int = Field(default=900, alias="MANIFEST_NOT_FOUND_RETRY_SECONDS", ge=0, le=86400)
    # A release the reconciler finds is started only after this long, so a notification on its way
    # can still claim it (and the release is not counted as a missed notification by mistake).
    reconcile_grace_seconds: int = Field(default=600, alias="RECONCILE_GRACE_SECONDS", ge=0, le=86400)
    # Probing stops after this many channels past the start, whatever the CDN says (a guard, not a limit in practice).
    max_channels: int = Field(default=40, alias="RECONCILE_MAX_CHANNELS", ge=1, le=200)

    @field_validator("tracked_channels", mode="before")
    @classmethod
    def _split_channels(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(split_list(value))
        return value

    @field_validator("tracked_channels")
    @classmethod
    def _check_channels(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [c for c in value if not CHANNEL.fullmatch(c)]
        if bad:
            raise ValueError(f"TRACKED_CHANNELS: {bad} are not channels like 1-30")
        return value

    @field_validator("track_from_minor")
    @classmethod
    def _check_minor(cls, value: str | None) -> str | None:
        if value is not None and not CHANNEL.fullmatch(value):
            raise ValueError(f"TRACK_FROM_MINOR: {value!r} is not a channel like 1-30")
        return value

    @model_validator(mode="after")
    def _one_tracking_mode(self) -> IntakeSettings:
        if self.tracked_channels and self.track_from_minor:
            raise ValueError("set TRACKED_CHANNELS or TRACK_FROM_MINOR, not both")
        return self

    @property
    def tracking(self) -> ChannelTracking:
        return ChannelTracking(
            explicit=self.tracked_channels, from_minor=self.track_from_minor, max_channels=self.max_channels
        )
