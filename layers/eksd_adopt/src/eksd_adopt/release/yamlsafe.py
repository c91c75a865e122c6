"""Safe YAML loading for untrusted upstream documents: bounded, strict about keys, plain JSON-like values only.

Upstream parses manifests with a strict YAML-to-JSON decoder, so what this loader accepts is what a JSON
document can say: string keys, each key once, null/bool/int/float/str/list/mapping values. Anything
else is refused with its line and column rather than interpreted: duplicate keys (PyYAML keeps the last
one silently, so a second ``uri:`` would redirect a copy), merge keys, anchors and aliases (expansion
bombs), explicit tags such as ``!!binary`` or ``!!set``, and integers too long to be a number upstream
could hold (Python refuses to convert more than 4,300 digits; long before that they are no number).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, ScalarNode

from eksd_adopt.errors import ManifestError

try:  # libyaml is several times faster; fall back to the pure-Python loader where it is missing.
    _BaseLoader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _BaseLoader = yaml.SafeLoader

_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_MERGE_TAG = "tag:yaml.org,2002:merge"
# The tags a JSON document can express; the safe loader's others (binary, timestamp, omap, pairs, set)
# build bytes, datetimes, tuples and sets that nothing upstream sends.
_JSON_TAGS = frozenset(f"tag:yaml.org,2002:{name}" for name in ("null", "bool", "int", "float", "str", "seq", "map"))
# The longest integer literal read (signs, underscores and base-60 colons included): upstream's
# numbers are Go ints (at most 19 digits), so 32 characters is generous and keeps int() cheap.
MAX_INTEGER_CHARS = 32


def _location(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "(unknown position)"


class _ManifestLoader(_BaseLoader):  # type: ignore[misc,valid-type]
    """SafeLoader limited to JSON-like values: strict keys, bounded integers, timestamps kept as text."""

    yaml_constructors = {
        tag: constructor
        for tag, constructor in _BaseLoader.yaml_constructors.items()
        if tag in _JSON_TAGS or tag is None  # None: the "undefined tag" constructor, which refuses
    }

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        if not isinstance(node, MappingNode):
            raise ConstructorError(None, None, f"expected a mapping, found {node.id}", node.start_mark)
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                raise ConstructorError(None, None, "merge keys (<<) are not allowed", key_node.start_mark)
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str):
                raise ConstructorError(
                    None, None, f"mapping keys must be strings, found a {type(key).__name__} key", key_node.start_mark
                )
            if key in mapping:
                raise ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping

    def construct_yaml_int(self, node: ScalarNode) -> int:
        if len(node.value) > MAX_INTEGER_CHARS:
            raise ConstructorError(
                None, None, f"integer of {len(node.value)} characters (at most {MAX_INTEGER_CHARS})", node.start_mark
            )
        return int(super().construct_yaml_int(node))


_ManifestLoader.yaml_constructors["tag:yaml.org,2002:int"] = _ManifestLoader.construct_yaml_int
_ManifestLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP_TAG]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}


def load_yaml_document(data: bytes | str, *, max_bytes: int, what: str = "document") -> Any:
    """Parse one YAML document from untrusted bytes; :class:`ManifestError` (with a position) otherwise."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) > max_bytes:
        raise ManifestError(f"{what} is {len(raw)} bytes, over the {max_bytes}-byte limit")
    if b"&" in raw:  # no anchor without '&' (in any encoding YAML reads), hence no alias: skip the scan
        _refuse_anchors(raw, what)
    try:
        return yaml.load(raw, Loader=_ManifestLoader)  # noqa: S506 - a SafeLoader subclass
    except ConstructorError as exc:
        raise ManifestError(f"{what}: {_location(exc.problem_mark)}: {exc.problem}") from exc
    except yaml.YAMLError as exc:
        raise ManifestError(f"{what} is not valid YAML: {exc}") from exc


def _refuse_anchors(raw: bytes, what: str) -> None:
    # Anchors and aliases are refused at the event level, before any node is built: real manifests
    # never use them, scalar aliases are as refused as container ones, and nothing is ever expanded.
    try:
        for event in yaml.parse(raw, Loader=_ManifestLoader):
            if isinstance(event, yaml.NodeEvent) and event.anchor:
                kind = "alias *" if isinstance(event, yaml.AliasEvent) else "anchor &"
                raise ManifestError(
                    f"{what}: {_location(event.start_mark)}: YAML anchors/aliases are not allowed ({kind}{event.anchor})"
                )
    except yaml.YAMLError as exc:
        raise ManifestError(f"{what} is not valid YAML: {exc}") from exc


def read_document_file(path: str | Path, *, max_bytes: int) -> bytes:
    """The bytes of a local file, never more than ``max_bytes`` read.

    The cap holds while reading, not on the size the file claims: ``/dev/zero``, a FIFO or a
    ``/proc`` file report a size that says nothing about what reading them yields.
    """
    with open(path, "rb") as stream:
        data = stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ManifestError(f"{path} is over the {max_bytes}-byte limit")
    return data
