"""Safe YAML loading: size cap, no alias bombs, timestamps stay strings, syntax errors are clear."""

from __future__ import annotations

from collections.abc import Callable

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


@pytest.mark.reliability(
    area="manifest", fault="YAML alias expansion bomb (9^9 nodes)", expected="refused before any expansion"
)
def test_alias_bomb_is_refused_quickly(observed: Callable[[str], None]) -> None:
    with pytest.raises(ManifestError, match="anchors/aliases") as info:
        load_yaml_document(BOMB, max_bytes=1 << 20)
    observed(str(info.value))


def test_single_alias_is_refused() -> None:
    with pytest.raises(ManifestError, match="anchors/aliases"):
        load_yaml_document("a: &x {k: v}\nb: *x\n", max_bytes=1000)


@pytest.mark.reliability(area="manifest", fault="document over 1 MiB", expected="refused before parsing")
def test_oversized_document_is_refused_before_parsing(observed: Callable[[str], None]) -> None:
    policy = UpstreamPolicy()
    with pytest.raises(ManifestError, match="over the 1048576-byte limit") as info:
        validate_manifest(b"#" * (policy.max_manifest_bytes + 1), policy=policy)
    observed(str(info.value))


@pytest.mark.reliability(area="manifest", fault="malformed YAML", expected="clear error naming the position")
def test_malformed_yaml_names_the_problem(observed: Callable[[str], None]) -> None:
    with pytest.raises(ManifestError, match="not valid YAML") as info:
        load_yaml_document("kind: Release\n  spec: [unclosed\n", max_bytes=1000, what="m.yaml")
    observed(str(info.value).splitlines()[0])


def test_multiple_documents_are_refused() -> None:
    with pytest.raises(ManifestError, match="not valid YAML"):
        load_yaml_document("a: 1\n---\nb: 2\n", max_bytes=1000)


@pytest.mark.reliability(area="manifest", fault="YAML python/object tag", expected="refused, nothing constructed")
def test_python_tags_are_refused() -> None:
    with pytest.raises(ManifestError, match="not valid YAML"):
        load_yaml_document("a: !!python/object/apply:os.system ['true']\n", max_bytes=1000)


def test_timestamps_stay_strings() -> None:
    assert load_yaml_document("date: 2021-08-19T20:14:48Z\n", max_bytes=1000) == {"date": "2021-08-19T20:14:48Z"}
