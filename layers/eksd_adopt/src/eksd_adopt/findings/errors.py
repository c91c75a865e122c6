"""Findings errors: their class names are the error names a workflow's Retry/Catch would match on."""

from __future__ import annotations

from eksd_adopt.errors import EksdAdoptError


class FindingsError(EksdAdoptError):
    """Base of the findings errors."""


class ScannerUnavailableError(FindingsError):
    """The scanner could not be read for now (throttled, a server error, no connection): worth trying again."""


class ScannerError(FindingsError):
    """The scanner refused the read for a reason retrying will not fix (access denied, invalid request)."""


class FindingsDocumentError(FindingsError):
    """A stored findings document is missing, too large, altered or not a findings document."""


class FindingsNotAcknowledgedError(FindingsError):
    """An approval names findings to accept that were not asked for, or leaves blocking ones unaccepted."""
