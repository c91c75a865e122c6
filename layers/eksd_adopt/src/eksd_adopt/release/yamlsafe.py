"""Safe YAML loading for untrusted upstream documents: size cap, no aliases, no implicit timestamps."""

from __future__ import annotations

from typing import Any

import yaml

from eksd_adopt.errors import ManifestError

try:  # libyaml is several times faster; fall back to the pure-Python loader where it is missing.
    _BaseLoader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _BaseLoader = yaml.SafeLoader

_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


class _ManifestLoader(_BaseLoader):  # type: ignore[misc,valid-type]
    """SafeLoader that keeps timestamps as strings: the validator checks RFC 3339 itself."""


_ManifestLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP_TAG]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}


def load_yaml_document(data: bytes | str, *, max_bytes: int, what: str = "document") -> Any:
    """Parse one YAML document from untrusted bytes.

    Aliases are refused outright: real manifests never use them, and refusing them is the only
    sure defence against "billion laughs" expansion in whatever walks the result afterwards.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) > max_bytes:
        raise ManifestError(f"{what} is {len(raw)} bytes, over the {max_bytes}-byte limit")
    try:
        document = yaml.load(raw, Loader=_ManifestLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ManifestError(f"{what} is not valid YAML: {exc}") from exc
    _refuse_shared_nodes(document, what)
    return document


def _refuse_shared_nodes(document: Any, what: str) -> None:
    # The safe constructor builds each aliased node once and shares the object, so an alias shows
    # as a container reached twice. Walking by identity stays linear even for a bomb.
    seen: set[int] = set()
    stack = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            children = list(node.values())
        elif isinstance(node, list):
            children = node
        else:
            continue
        if id(node) in seen:
            raise ManifestError(f"{what} uses YAML anchors/aliases, which are not allowed")
        seen.add(id(node))
        stack.extend(children)
