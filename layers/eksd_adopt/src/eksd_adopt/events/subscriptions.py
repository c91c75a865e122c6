"""Subscriptions to the release-events topic: which endpoints may subscribe, and what a subscription is."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict

from eksd_adopt.events.errors import SubscriptionEndpointError

# ASCII-only and matched whole (fullmatch): no non-ASCII look-alikes, no trailing newline.
_SQS_ARN = re.compile(r"arn:aws[a-z-]*:sqs:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,80}(\.fifo)?", re.ASCII)
_LAMBDA_ARN = re.compile(
    r"arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9$_-]+)?", re.ASCII
)
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(rf"[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~-]{{1,64}}@{_LABEL}(?:\.{_LABEL})+", re.ASCII)
# Printable ASCII without spaces: urlsplit would silently drop a tab or newline from the host.
_HTTPS_URL = re.compile(r"https://[!-~]*", re.ASCII | re.IGNORECASE)
_TOPIC_ARN = re.compile(r"arn:aws[a-z-]*:sns:(?P<region>[a-z0-9-]+):[0-9]{12}:[A-Za-z0-9_-]{1,256}", re.ASCII)

ACCEPTED_ENDPOINTS = "an SQS queue ARN, a Lambda function ARN, an email address or an https:// URL"


class Protocol(StrEnum):
    SQS = "sqs"
    LAMBDA = "lambda"
    EMAIL = "email"
    HTTPS = "https"


class Endpoint(BaseModel):
    model_config = ConfigDict(frozen=True)

    protocol: Protocol
    address: str

    @property
    def raw_delivery(self) -> bool:
        # SQS subscribers get the event JSON as the body and the attributes as SQS message attributes;
        # https subscribers keep the signed SNS envelope so they can verify it; email and Lambda have no choice.
        return self.protocol is Protocol.SQS


def parse_endpoint(value: str) -> Endpoint:
    """Which protocol an endpoint speaks, from its form; plain http and anything else are refused."""
    text = value.strip()
    if _SQS_ARN.fullmatch(text):
        return Endpoint(protocol=Protocol.SQS, address=text)
    if _LAMBDA_ARN.fullmatch(text):
        return Endpoint(protocol=Protocol.LAMBDA, address=text)
    if text.lower().startswith("http://"):
        raise SubscriptionEndpointError(
            f"endpoint {value!r}: plain http is refused (events would travel unencrypted); use https"
        )
    if text.lower().startswith("https://"):
        if not _HTTPS_URL.fullmatch(text):
            raise SubscriptionEndpointError(f"endpoint {value!r}: an https URL is printable ASCII without spaces")
        try:
            parts = urlsplit(text)
            parts.port  # noqa: B018 - raises ValueError for a port that is not one
        except ValueError as exc:
            raise SubscriptionEndpointError(f"endpoint {value!r}: {exc}") from None
        if not parts.hostname:
            raise SubscriptionEndpointError(f"endpoint {value!r}: an https URL needs a host")
        return Endpoint(protocol=Protocol.HTTPS, address=text)
    if _EMAIL.fullmatch(text):
        return Endpoint(protocol=Protocol.EMAIL, address=text)
    raise SubscriptionEndpointError(f"endpoint {value!r} is not {ACCEPTED_ENDPOINTS}")


def topic_region(topic_arn: str) -> str:
    """The region of an SNS topic ARN (the client must talk to it there); ValueError if it is not one."""
    match = _TOPIC_ARN.fullmatch(topic_arn)
    if not match:
        raise SubscriptionEndpointError(
            f"{topic_arn!r} is not an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)"
        )
    return match["region"]


class Subscription(BaseModel):
    """One subscription to the topic as SNS reports it."""

    model_config = ConfigDict(frozen=True)

    arn: str  # "PendingConfirmation" until an email or https endpoint confirms
    protocol: str
    endpoint: str
    owner: str | None = None
    filter_policy: dict[str, Any] | None = None

    @property
    def pending(self) -> bool:
        return not self.arn.startswith("arn:")
