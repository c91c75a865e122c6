"""Safe YAML loading: size cap, no alias bombs, timestamps stay strings, syntax errors are clear."""

from __future__ import annotations

import pytest

from eksd_adopt.errors import ManifestError
from eksd_adopt.policy import UpstreamPolicy
from eksd_adopt.release import validate_manifest
from eksd_adopt.release.yamlsafe import load_yaml_document

BOMB = """
a: &a ["x","x","x","x","x","x","x","x","x"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def test_alias_bomb_is_refused_quickly() -> None:
    with pytest.raises(ManifestError, match="anchors/aliases"):
        load_yaml_document(BOMB, max_bytes=1 << 20)


def test_single_alias_is_refused() -> None:
    with pytest.raises(ManifestError, match="anchors/aliases"):
        load_yaml_document("a: &x {k: v}\nb: *x\n", max_bytes=1000)


def test_oversized_document_is_refused_before_parsing() -> None:
    policy = UpstreamPolicy()
    with pytest.raises(ManifestError, match="over the 1048576-byte limit"):
        validate_manifest(b"#" * (policy.max_manifest_bytes + 1), policy=policy)


def test_malformed_yaml_names_the_problem() -> None:
    with pytest.raises(ManifestError, match="not valid YAML"):
        load_yaml_document("kind: Release\n  spec: [unclosed\n", max_bytes=1000, what="m.yaml")


def test_multiple_documents_are_refused() -> None:
    with pytest.raises(ManifestError, match="not valid YAML"):
        load_yaml_document("a: 1\n---\nb: 2\n", max_bytes=1000)


def test_python_tags_are_refused() -> None:
    with pytest.raises(ManifestError, match="not valid YAML"):
        load_yaml_document("a: !!python/object/apply:os.system ['true']\n", max_bytes=1000)


def test_timestamps_stay_strings() -> None:
    assert load_yaml_document("date: 2021-08-19T20:14:48Z\n", max_bytes=1000) == {"date": "2021-08-19T20:14:48Z"}
