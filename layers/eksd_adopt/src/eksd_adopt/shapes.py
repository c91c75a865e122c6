r"""The shapes of what upstream EKS-D names, and the topic it announces on: plain patterns, no pydantic.

One definition each, used by the validator and by the code that later acts on the same value (the
planner, the copiers, the notification parser), so that a manifest `validate` accepts is one the
copy will not refuse on shape. Every pattern is ASCII-only and matched whole (fullmatch): `\d` and
`\w` would take non-ASCII digits and letters, `$` a final newline. Kept apart from the policy's
models so that the notification parser (and `eksd-adopt notification parse`) load no pydantic.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# The SNS topic upstream announces releases on (the policy's default trusted topic).
DEFAULT_TOPIC_ARN = "arn:aws:sns:us-east-1:379412251201:eks-distro-updates"


# `1-30`: no leading zeros (the events' channel grammar) and a sane length.
CHANNEL = re.compile(r"(?P<major>[1-9][0-9]{0,2})-(?P<minor>0|[1-9][0-9]{0,2})", re.ASCII)
# Upstream's `number` is a Go int: beyond this upstream's own parser fails.
MAX_RELEASE_NUMBER = 2**63 - 1
# A release id (<channel>-<number>) and a stage name, as keys, request paths and SSM pointers carry them.
RELEASE_ID = re.compile(r"[1-9][0-9]{0,2}-(?:0|[1-9][0-9]{0,2})-[1-9][0-9]{0,18}", re.ASCII)
STAGE = re.compile(r"[a-z][a-z0-9-]{0,31}", re.ASCII)
SHA256_HEX = re.compile(r"[0-9a-f]{64}", re.ASCII)
SHA512_HEX = re.compile(r"[0-9a-f]{128}", re.ASCII)

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = rf"{_LABEL}(?:\.{_LABEL})*"
# A path segment: no "." or ".." (a segment starts with a letter, digit or underscore), no percent
# escapes (so no encoded dot segments or slashes), no backslash, whitespace or control character.
_SEGMENT = r"[A-Za-z0-9_][A-Za-z0-9._+~-]*"
# https, a host and a path of such segments: no userinfo, no port, no query or fragment, no `//`,
# no empty file name (the URL cannot end in "/").
_HTTPS_URL = re.compile(rf"https://(?P<host>{_HOST})(?P<path>(?:/{_SEGMENT})+)", re.ASCII)
MAX_URL_LENGTH = 1024  # S3's key limit; upstream's longest archive URL is under 200 characters


def https_url_problem(url: object, allowed_hosts: Iterable[str]) -> str | None:
    """Why ``url`` is not a plain https URL of a file on an allowed host, or None when it is.

    The whole string is matched, so nothing a URL parser would quietly drop or reinterpret
    (tabs and newlines, ``%2e%2e``, ``\\``, ``user@``, an out-of-range port) gets through.
    """
    if not isinstance(url, str):
        return f"must be a string, got {type(url).__name__}"
    if len(url) > MAX_URL_LENGTH:
        return f"is {len(url)} characters long (at most {MAX_URL_LENGTH})"
    match = _HTTPS_URL.fullmatch(url)
    if match is None:
        return (
            f"{url!r} is not a plain https URL of a file (https://host/path: no port, credentials, query,"
            " percent-escapes, backslashes, whitespace, empty or dot segments)"
        )
    allowed = frozenset(allowed_hosts)
    if match["host"] not in allowed:
        return f"host {match['host']!r} is not allow-listed ({', '.join(sorted(allowed))})"
    return None


def url_path(url: str) -> str:
    """The path of a URL :func:`https_url_problem` accepted."""
    match = _HTTPS_URL.fullmatch(url)
    if match is None:
        raise ValueError(f"{url!r} is not a checked https URL")
    return match["path"]
