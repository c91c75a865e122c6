"""Container image references (``host/path:tag@sha256:...``) as the distribution spec defines them."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Grammar from distribution/reference, restricted to what a full, pullable reference needs. Every
# pattern is ASCII-only (re.ASCII: no Unicode digits or letters) and matched whole (fullmatch), so no
# trailing newline or non-ASCII look-alike passes.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"sha256:[0-9a-f]{64}"
_REFERENCE = re.compile(
    rf"(?P<host>{_HOST})/(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?",
    re.ASCII,
)
DIGEST_PATTERN = re.compile(_DIGEST, re.ASCII)
# The OCI image-spec digest grammar (descriptor.md, "Digests") with the registered algorithms' exact
# encodings: any digest read from upstream (descriptors, headers, imageDigest) must match one of these
# whole before it is used, above all before it goes into a request path.
_REGISTERED_DIGESTS = {
    "sha256": re.compile(r"sha256:[0-9a-f]{64}", re.ASCII),
    "sha512": re.compile(r"sha512:[0-9a-f]{128}", re.ASCII),
}


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
        match = _REFERENCE.fullmatch(text)
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


def is_digest(text: object, *, algorithms: tuple[str, ...] = ("sha256",)) -> bool:
    """True when ``text`` is a whole digest of one of ``algorithms`` (sha256 by default: what we hash)."""
    if not isinstance(text, str):
        return False
    algorithm = text.partition(":")[0]
    return algorithm in algorithms and bool(_REGISTERED_DIGESTS[algorithm].fullmatch(text))


def check_digest(text: object, what: str, *, algorithms: tuple[str, ...] = ("sha256",)) -> str:
    """``text`` when it is a whole digest (see :func:`is_digest`), else ReferenceError naming ``what``."""
    if not is_digest(text, algorithms=algorithms):
        shown = repr(text)[:100]
        raise ReferenceError(f"{what}: {shown} is not a {' or '.join(algorithms)} digest")
    return str(text)


def _looks_like_host(host: str) -> bool:
    return "." in host or ":" in host or host == "localhost" or host.startswith("[")
