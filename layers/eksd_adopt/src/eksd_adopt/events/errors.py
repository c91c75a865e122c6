"""Errors of the events package: the CLI maps them to exit codes, callers catch them by name."""

from __future__ import annotations

from eksd_adopt.errors import EksdAdoptError


class EventFilterError(EksdAdoptError, ValueError):
    """A subscription filter names an unknown event type or a malformed channel, stage or minor."""


class SubscriptionEndpointError(EksdAdoptError, ValueError):
    """A subscription endpoint is neither an SQS queue ARN, a Lambda ARN, an email address nor an https URL."""


class EventPublishError(EksdAdoptError):
    """The release-events topic refused or failed a publish."""


class SubscriptionError(EksdAdoptError):
    """The release-events topic refused a subscribe, list or unsubscribe request."""


class SubscriptionNotFoundError(SubscriptionError):
    """The subscription named does not exist (any more)."""
