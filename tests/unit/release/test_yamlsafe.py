"""Safe YAML loading: size cap, no alias bombs, timestamps stay strings, syntax errors are clear."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from eksd_adopt.errors import ManifestError
from eksd_adopt.policy import UpstreamPolicy
from eksd_adopt.release import validate_manifest
from eksd_adopt.release.yamlsafe import load_yaml_document, read_document_file

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
    with pytest.raises(ManifestError, match="line 1, column 4: could not determine a constructor"):
        load_yaml_document("a: !!python/object/apply:os.system ['true']\n", max_bytes=1000)


def test_timestamps_stay_strings() -> None:
    assert load_yaml_document("date: 2021-08-19T20:14:48Z\n", max_bytes=1000) == {"date": "2021-08-19T20:14:48Z"}


# --- What upstream's strict YAML-to-JSON decoder refuses, refused here too, with a position ----------


@pytest.mark.reliability(
    area="manifest",
    fault="duplicate mapping key (a second `uri:` in an archive)",
    expected="refused with its line and column, never last-one-wins",
)
def test_duplicate_keys_are_refused_with_their_position(observed: Callable[[str], None]) -> None:
    text = (
        "archive:\n"
        "  uri: https://distro.eks.amazonaws.com/kubernetes-1-20/releases/1/artifacts/x\n"
        "  sha256: abc\n"
        "  uri: https://evil.example/x\n"
    )
    with pytest.raises(ManifestError, match=r"line 4, column 3: duplicate key 'uri'") as info:
        load_yaml_document(text, max_bytes=1000, what="m.yaml")
    observed(str(info.value))


def test_a_duplicate_key_in_a_real_manifest_is_refused(manifest_1_20: str) -> None:
    # The same key twice in one asset of a real manifest: PyYAML alone would keep the second silently.
    doubled = manifest_1_20.replace("      type: Archive\n", "      type: Archive\n      type: Image\n", 1)
    assert doubled != manifest_1_20
    with pytest.raises(ManifestError, match="duplicate key 'type'"):
        validate_manifest(doubled)


@pytest.mark.reliability(
    area="manifest",
    fault="scalar alias, or an anchor alone (docs/release.md: anchors and aliases are refused)",
    expected="refused with the position of the anchor or alias",
)
@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("a: &x foo\nb: *x\n", "line 1, column 4"),  # the scalar alias the identity walk missed
        ("a: &x foo\nb: bar\n", "line 1, column 4"),  # an anchor, even unused
        ("a: [1, &n 2]\n", "line 1, column 8"),
    ],
)
def test_anchors_and_aliases_of_any_kind_are_refused(text: str, where: str, observed: Callable[[str], None]) -> None:
    with pytest.raises(ManifestError, match=f"{where}: YAML anchors/aliases are not allowed") as info:
        load_yaml_document(text, max_bytes=1000)
    observed(str(info.value))


def test_an_ampersand_in_a_value_is_not_an_anchor() -> None:
    assert load_yaml_document("description: Kubernetes & etcd\n", max_bytes=1000) == {
        "description": "Kubernetes & etcd"
    }


@pytest.mark.reliability(
    area="manifest",
    fault="5,000-digit integer (Python's int() limit is 4,300 digits); long base-60 integer",
    expected="clear located error (exit 1), no ValueError traceback, no quadratic conversion",
)
@pytest.mark.parametrize("literal", ["9" * 5000, "-" + "1" * 5000, ":".join(["1"] + ["59"] * 20000)])
def test_overlong_integers_are_refused_before_conversion(literal: str, observed: Callable[[str], None]) -> None:
    with pytest.raises(ManifestError, match=r"line 2, column 16: integer of \d+ characters") as info:
        validate_manifest(f"kind: Release\nspec: {{number: {literal}}}\n")
    observed(str(info.value))


def test_integers_upstream_can_hold_are_read() -> None:
    assert load_yaml_document(f"n: {2**63 - 1}\nm: -12\n", max_bytes=1000) == {"n": 2**63 - 1, "m": -12}


@pytest.mark.reliability(
    area="manifest",
    fault="merge key, non-string key, explicit !!binary/!!set/!!timestamp tags",
    expected="refused with its position: only what JSON can say is read",
)
@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("a: 1\n<<: {b: 2}\n", "line 2, column 1: merge keys"),
        ("1: x\n", "line 1, column 1: mapping keys must be strings, found a int key"),
        ("? [a]\n: 1\n", "mapping keys must be strings, found a list key"),
        ("yes: x\n", "found a bool key"),
        ("a: !!binary aGVsbG8=\n", "line 1, column 4: could not determine a constructor"),
        ("a: !!set {x}\n", "could not determine a constructor"),
        ("date: !!timestamp 2021-01-01\n", "could not determine a constructor"),
    ],
)
def test_only_json_like_values_are_read(text: str, error: str) -> None:
    with pytest.raises(ManifestError, match=error):
        load_yaml_document(text, max_bytes=1000)


# --- Reading a file: the cap holds while reading, whatever size the file claims ------------------------


@pytest.mark.reliability(
    area="manifest",
    fault="validate /dev/zero (a file whose size says 0 and never ends)",
    expected="refused after reading one byte over the 1 MiB cap",
)
def test_reading_an_endless_file_stops_at_the_cap(observed: Callable[[str], None]) -> None:
    with pytest.raises(ManifestError, match="over the 1000-byte limit") as info:
        read_document_file("/dev/zero", max_bytes=1000)
    observed(str(info.value))


@pytest.mark.reliability(
    area="manifest",
    fault="validate a FIFO whose writer never stops",
    expected="refused after reading one byte over the cap",
)
def test_reading_an_endless_fifo_stops_at_the_cap(tmp_path: Path) -> None:
    fifo = tmp_path / "manifest.yaml"
    os.mkfifo(fifo)
    stop = threading.Event()

    def write_forever() -> None:
        try:
            with open(fifo, "wb") as sink:
                while not stop.is_set():
                    sink.write(b"# " + b"x" * 4094 + b"\n")
        except BrokenPipeError:
            pass  # the reader stopped reading: what the test wants

    writer = threading.Thread(target=write_forever, daemon=True)
    writer.start()
    try:
        with pytest.raises(ManifestError, match="over the 100000-byte limit"):
            read_document_file(fifo, max_bytes=100_000)
    finally:
        stop.set()
        writer.join(timeout=10)
    assert not writer.is_alive()


def test_a_file_under_the_cap_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_bytes(b"kind: Release\n")
    assert read_document_file(path, max_bytes=14) == b"kind: Release\n"
