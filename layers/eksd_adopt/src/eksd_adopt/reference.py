"""Container image references (``host/path:tag@sha256:...``) as the distribution spec defines them."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Grammar from distribution/reference, restricted to what a full, pullable reference needs.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"sha256:[0-9a-f]{64}"
_REFERENCE = re.compile(
    rf"^(?P<host>{_HOST})/(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$"
)
DIGEST_PATTERN = re.compile(rf"^{_DIGEST}$")


class ReferenceError(ValueError):
    """Not a full image reference (registry host, repository path, tag or digest)."""


@dataclass(frozen=True, slots=True)
class ImageReference:
    host: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> ImageReference:
        match = _REFERENCE.match(text)
        # A first component without a dot, colon or "localhost" is a Docker Hub path, not a host.
        if not match or not _looks_like_host(match.group("host")):
            raise ReferenceError(f"{text!r} is not a full image reference (registry/repository:tag)")
        return cls(match["host"], match["path"], match["tag"], match["digest"])

    def __str__(self) -> str:
        text = f"{self.host}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text

    def with_digest(self, digest: str) -> ImageReference:
        return ImageReference(self.host, self.repository, self.tag, digest)


def _looks_like_host(host: str) -> bool:
    return "." in host or ":" in host or host == "localhost" or host.startswith("[")
