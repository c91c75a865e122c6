"""Understand an upstream EKS-D announcement: which channel, and which release number if it names one.

The upstream topic sends plain English text, in several styles over the years. The parser reads
what is certainly there and refuses everything else: it never guesses a release.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

from eksd_adopt.errors import NotificationError
from eksd_adopt.shapes import CHANNEL, MAX_RELEASE_NUMBER

# ASCII only (re.ASCII: `[0-9]`, and `\b` between ASCII word characters): a non-ASCII digit is no digit.
# Current template: "Amazon EKS Distro v1-28-eks-21 is now available."
_RELEASE_TAG = re.compile(r"\bv([0-9]+)-([0-9]+)-eks-([0-9]+)\b", re.ASCII)
# Older messages: "v1.21-18".
_DOTTED_TAG = re.compile(r"\bv([0-9]+)\.([0-9]+)-([0-9]+)\b", re.ASCII)
# Subject "New Release of EKS-D v1-19"; also a bare "v1-19" channel elsewhere.
_SUBJECT_CHANNEL = re.compile(r"\bv([0-9]+)-([0-9]+)\b(?!-eks)", re.ASCII)
# Free-text new-minor announcements: "now supports Kubernetes version 1.19".
_KUBERNETES_MINOR = re.compile(r"\bKubernetes(?: version)? ([0-9]+)\.([0-9]+)\b", re.ASCII)
# SNS's MessageId is a UUID; anything else is not kept.
_MESSAGE_ID = re.compile(r"[0-9A-Fa-f-]{1,64}", re.ASCII)
_MAX_TEXT = 64 * 1024
# SNS messages are at most 256 KiB; the envelope adds a few hundred bytes of fields and signature.
MAX_ENVELOPE_CHARS = 512 * 1024
# A real envelope is one flat object. Deeper JSON is refused before it is parsed (Python's parser
# recurses, so deep nesting would end in RecursionError), and integers are kept short (int() refuses
# more than 4,300 digits with a ValueError).
_MAX_JSON_DEPTH = 32
_MAX_JSON_INTEGER_DIGITS = 32
_JSON_STRING_OR_BRACKET = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.ASCII | re.DOTALL)


# A dataclass, not a pydantic model: the parser builds it from checked values only, and
# `eksd-adopt notification parse` then starts without loading pydantic (docs/benchmarks.md).
@dataclasses.dataclass(frozen=True)
class ReleaseAnnouncement:
    """What a notification announces. ``number`` is None when the text names only a channel."""

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
        envelope = _load_json(envelope)
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
    kept = message_id if isinstance(message_id, str) and _MESSAGE_ID.fullmatch(message_id) else None
    return dataclasses.replace(parsed, message_id=kept)


def _load_json(text: str) -> Any:
    """Parse an envelope's JSON, bounded in size, nesting and integer length; NotificationError otherwise."""
    if len(text) > MAX_ENVELOPE_CHARS:
        raise NotificationError(f"the SNS envelope is longer than {MAX_ENVELOPE_CHARS} characters")
    depth = 0
    for token in _JSON_STRING_OR_BRACKET.finditer(text):
        bracket = token.group()
        if bracket in ("[", "{"):
            depth += 1
            if depth > _MAX_JSON_DEPTH:
                raise NotificationError(f"the SNS envelope nests deeper than {_MAX_JSON_DEPTH} levels")
        elif bracket in ("]", "}"):
            depth -= 1
    try:
        return json.loads(text, parse_int=_bounded_int)
    except json.JSONDecodeError as exc:
        raise NotificationError(f"the SNS envelope is not JSON: {exc.msg} (position {exc.pos})") from exc


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_JSON_INTEGER_DIGITS:
        raise NotificationError(f"the SNS envelope has an integer of {len(text)} digits")
    return int(text)


def _channel(major: str, minor: str) -> str:
    channel = f"{major}-{minor}"
    if not CHANNEL.fullmatch(channel):
        raise NotificationError(f"{_cut(channel)} is not a release channel like 1-30")
    return channel


def _release(major: str, minor: str, number: str) -> tuple[str, int]:
    channel = _channel(major, minor)
    if len(number) > len(str(MAX_RELEASE_NUMBER)) or int(number) > MAX_RELEASE_NUMBER:
        raise NotificationError(f"release number {_cut(number)} in the message is out of range")
    return channel, int(number)


def _cut(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def parse_announcement(message: str, *, subject: str | None = None) -> ReleaseAnnouncement:
    """Parse a raw announcement (Message text, and the Subject when there is one)."""
    if len(message) > _MAX_TEXT or (subject and len(subject) > _MAX_TEXT):
        raise NotificationError(f"the notification is longer than {_MAX_TEXT} characters")
    releases = {_release(m[1], m[2], m[3]) for m in _RELEASE_TAG.finditer(message)}
    releases |= {_release(m[1], m[2], m[3]) for m in _DOTTED_TAG.finditer(message)}
    subject_channels = {_channel(m[1], m[2]) for m in _SUBJECT_CHANNEL.finditer(subject or "")}
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
    minors = {_channel(m[1], m[2]) for m in _KUBERNETES_MINOR.finditer(message)}
    if len(minors) == 1:
        return ReleaseAnnouncement(channel=minors.pop())
    if minors:
        raise NotificationError(f"the message names several Kubernetes minors ({sorted(minors)}); refusing to guess")
    snippet = message.strip()[:80]
    raise NotificationError(f"the notification names no EKS-D release or channel: {snippet!r}")
