"""Understand an upstream EKS-D announcement: which channel, and which release number if it names one.

The upstream topic sends plain English text, in several styles over the years. The parser reads
what is certainly there and refuses everything else: it never guesses a release.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict

from eksd_adopt.errors import NotificationError

# Current template: "Amazon EKS Distro v1-28-eks-21 is now available."
_RELEASE_TAG = re.compile(r"\bv(\d+)-(\d+)-eks-(\d+)\b")
# Older messages: "v1.21-18".
_DOTTED_TAG = re.compile(r"\bv(\d+)\.(\d+)-(\d+)\b")
# Subject "New Release of EKS-D v1-19"; also a bare "v1-19" channel elsewhere.
_SUBJECT_CHANNEL = re.compile(r"\bv(\d+)-(\d+)\b(?!-eks)")
# Free-text new-minor announcements: "now supports Kubernetes version 1.19".
_KUBERNETES_MINOR = re.compile(r"\bKubernetes(?: version)? (\d+)\.(\d+)\b")
_MAX_TEXT = 64 * 1024


class ReleaseAnnouncement(BaseModel):
    """What a notification announces. ``number`` is None when the text names only a channel."""

    model_config = ConfigDict(frozen=True)

    channel: str
    number: int | None = None
    message_id: str | None = None

    @property
    def release_id(self) -> str | None:
        return f"{self.channel}-{self.number}" if self.number is not None else None


def parse_envelope(envelope: dict[str, Any] | str, *, topic_arn: str | None) -> ReleaseAnnouncement:
    """Parse an SNS envelope (as delivered to SQS or HTTPS subscribers).

    ``topic_arn`` is the upstream topic this deployment trusts; a message from any other topic is
    refused. Pass ``None`` only where the caller has already authenticated the source.
    """
    if isinstance(envelope, str):
        try:
            envelope = json.loads(envelope)
        except json.JSONDecodeError as exc:
            raise NotificationError(f"the SNS envelope is not JSON: {exc.msg}") from exc
    if not isinstance(envelope, dict):
        raise NotificationError("the SNS envelope must be a JSON object")
    if envelope.get("Type", "Notification") != "Notification":
        raise NotificationError(f"SNS message type {envelope.get('Type')!r} is not a Notification")
    source = envelope.get("TopicArn")
    if topic_arn is not None and source != topic_arn:
        raise NotificationError(f"message from topic {source!r} refused: only {topic_arn!r} is trusted")
    message = envelope.get("Message")
    if not isinstance(message, str):
        raise NotificationError("the SNS envelope has no Message text")
    subject = envelope.get("Subject")
    parsed = parse_announcement(message, subject=subject if isinstance(subject, str) else None)
    message_id = envelope.get("MessageId")
    return parsed.model_copy(update={"message_id": message_id if isinstance(message_id, str) else None})


def parse_announcement(message: str, *, subject: str | None = None) -> ReleaseAnnouncement:
    """Parse a raw announcement (Message text, and the Subject when there is one)."""
    if len(message) > _MAX_TEXT or (subject and len(subject) > _MAX_TEXT):
        raise NotificationError(f"the notification is longer than {_MAX_TEXT} characters")
    releases = {(f"{m[1]}-{m[2]}", int(m[3])) for m in _RELEASE_TAG.finditer(message)}
    releases |= {(f"{m[1]}-{m[2]}", int(m[3])) for m in _DOTTED_TAG.finditer(message)}
    subject_channels = {f"{m[1]}-{m[2]}" for m in _SUBJECT_CHANNEL.finditer(subject or "")}
    if len(subject_channels) > 1:
        raise NotificationError(f"the subject names several channels: {sorted(subject_channels)}")
    subject_channel = next(iter(subject_channels), None)

    if len(releases) > 1:
        named = ", ".join(f"{c}-{n}" for c, n in sorted(releases))
        raise NotificationError(f"the message names several releases ({named}); refusing to guess")
    if releases:
        channel, number = releases.pop()
        if number < 1:
            raise NotificationError(f"release number {number} in the message is not >= 1")
        if subject_channel and subject_channel != channel:
            raise NotificationError(
                f"the subject names channel {subject_channel} but the message names release {channel}-{number}"
            )
        return ReleaseAnnouncement(channel=channel, number=number)
    if subject_channel:
        return ReleaseAnnouncement(channel=subject_channel)
    minors = {f"{m[1]}-{m[2]}" for m in _KUBERNETES_MINOR.finditer(message)}
    if len(minors) == 1:
        return ReleaseAnnouncement(channel=minors.pop())
    if minors:
        raise NotificationError(f"the message names several Kubernetes minors ({sorted(minors)}); refusing to guess")
    snippet = message.strip()[:80]
    raise NotificationError(f"the notification names no EKS-D release or channel: {snippet!r}")
