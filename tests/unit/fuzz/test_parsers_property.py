"""Property-based tests: no input crashes the manifest or notification parsers; rejections are clear errors.

The library functions are fed arbitrary documents directly, and the CLI entry point (``eksd-adopt
validate``, ``eksd-adopt notification parse``) is fed arbitrary bytes, YAML and text through files:
never a traceback, always exit 0, 1 or 2, each example within a hypothesis deadline and a bounded
amount of memory.
"""

from __future__ import annotations

import copy
import json
import tracemalloc
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eksd_adopt.cli.main import app
from eksd_adopt.errors import ManifestError, NotificationError
from eksd_adopt.notification import parse_announcement, parse_envelope
from eksd_adopt.policy import DEFAULT_TOPIC_ARN
from eksd_adopt.release import validate_manifest
from tests.conftest import TESTDATA

BASE = yaml.safe_load((TESTDATA / "kubernetes-1-20-eks-1.yaml").read_text())
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's: the pure-Python dumper is most of the cost


def _dump(document: Any) -> str:
    return yaml.dump(document, Dumper=DUMPER)


FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Integers a Go int holds: longer ones are refused at load (see test_overlong_integers_are_refused_before_conversion).
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


@pytest.mark.reliability(
    area="manifest", fault="random bytes (hypothesis)", expected="clear error or located findings, no crash"
)
@FAST
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_crash_the_validator(data: bytes) -> None:
    try:
        report = validate_manifest(data)
    except ManifestError as exc:
        assert str(exc)
        return
    assert report.release is not None or report.errors


@FAST
@given(json_values)
def test_arbitrary_documents_give_located_findings(document: Any) -> None:
    report = validate_manifest(_dump(document))
    assert report.errors, "an arbitrary document is never a valid release"
    assert all(f.location and f.message for f in report.errors)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _paths(value, (*prefix, index))
    return out


PATHS = [p for p in _paths(BASE) if p]


@pytest.mark.reliability(
    area="manifest",
    fault="any field of a real manifest replaced by random JSON (hypothesis)",
    expected="located findings, no crash",
)
@FAST
@given(st.sampled_from(PATHS), json_values)
def test_replacing_any_field_of_a_real_manifest_never_crashes(path: tuple[Any, ...], value: Any) -> None:
    doc = copy.deepcopy(BASE)
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    report = validate_manifest(_dump(doc))
    assert all(f.location for f in report.findings)


@pytest.mark.reliability(
    area="notification",
    fault="random text and subject (hypothesis)",
    expected="clear error or a well-formed release, no crash",
)
@FAST
@given(st.text(max_size=400), st.one_of(st.none(), st.text(max_size=80)))
def test_arbitrary_text_never_crashes_the_notification_parser(message: str, subject: str | None) -> None:
    try:
        parsed = parse_announcement(message, subject=subject)
    except NotificationError as exc:
        assert str(exc)
        return
    # Anything accepted names a well-formed channel and, when present, a positive number.
    major, _, minor = parsed.channel.partition("-")
    assert major.isdigit() and minor.isdigit()
    assert parsed.number is None or parsed.number >= 1


@FAST
@given(st.text(max_size=200), st.integers(1, 40), st.integers(1, 999))
def test_a_real_tag_anywhere_in_noise_is_found(noise: str, minor: int, number: int) -> None:
    message = f"Amazon EKS Distro v1-{minor}-eks-{number} is now available. " + noise.replace("v", "")
    parsed = parse_announcement(message)
    assert (parsed.channel, parsed.number) == (f"1-{minor}", number)


@FAST
@given(json_values)
def test_arbitrary_envelopes_never_crash(envelope: Any) -> None:
    try:
        parse_envelope(json.dumps(envelope), topic_arn=DEFAULT_TOPIC_ARN)
    except NotificationError as exc:
        assert str(exc)


# --- Through the CLI entry point ------------------------------------------------------------------------

runner = CliRunner()
# The click command built once: typer's own runner rebuilds it on every call, ten times the cost.
COMMAND = typer.main.get_command(app)
# Per example: a deadline (hypothesis fails an example that is consistently slower), and a memory
# ceiling on what Python allocates while the command runs (inputs are a few KiB at most).
CLI = settings(
    max_examples=50,
    deadline=timedelta(seconds=3),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
MEMORY_CEILING = 64 * 1024 * 1024
BASE_TEXT = (TESTDATA / "kubernetes-1-20-eks-1.yaml").read_text()

# Fragments an attacker strings together: anchors and aliases, merge and duplicate keys, tags,
# huge and base-60 numbers, deep flow nesting, markup, non-ASCII digits, control characters.
_YAML_FRAGMENTS = st.sampled_from(
    [
        "a: &x 1\n",
        "b: *x\n",
        "<<: {c: 1}\n",
        "spec: {number: 1}\n",
        "spec: {number: '1'}\n",
        "spec: {number: true}\n",
        "kind: Release\n",
        "kind: Release\n",
        "apiVersion: distro.eks.amazonaws.com/v1alpha1\n",
        "n: " + "9" * 5000 + "\n",
        "n: 1:2:3:4:5:6:7:8:9:10:11:12:13:14:15:16:17:18:19:20:21\n",
        "d: " + "[" * 200 + "]" * 200 + "\n",
        "t: !!binary aGVsbG8=\n",
        "t: !!python/object/apply:os.system ['true']\n",
        "? [a, b]\n: c\n",
        "1: x\n",
        "m: '[/x] [bold]'\n",
        "c: 1-2\u0660\n",
        "status:\n  components:\n  - name: kubernetes\n    assets: [{type: Archive, archive: {uri: 'https://distro.eks.amazonaws.com:99999/x'}}]\n",
        "---\n",
        "\t\x00\x1b[31m\n",
        "  indented: [unclosed\n",
    ]
)
hostile_yaml = st.lists(_YAML_FRAGMENTS, max_size=12).map("".join)
# Hostile values put into one field of a real manifest, written as YAML text.
_HOSTILE_VALUES = st.sampled_from(
    [
        "9" * 5000,
        ":".join(["1"] + ["59"] * 50),
        "'[/x]'",
        "'[bold]x[/]'",
        "&a 1",
        "!!binary aGVsbG8=",
        "!!timestamp 2021-01-01",
        "[" * 100 + "]" * 100,
        "'1-2\u0660'",
        "'1-20\n'",
        "'1'",
        "true",
        "1.0",
        "{<<: {a: 1}}",
        "~",
        "'https://distro.eks.amazonaws.com:99999/kubernetes-1-20/releases/1/artifacts/x'",
        "'https://distro.eks.amazonaws.com/kubernetes-1-20/releases/1/artifacts/%2e%2e/x'",
    ]
)
_FIELDS = ["channel: 1-20", "number: 1", "name: kubernetes-1-20-eks-1", "name: etcd", "gitTag: v1.20.4", "uri: https"]
hostile_fields = st.tuples(st.sampled_from(_FIELDS), _HOSTILE_VALUES).map(
    lambda fv: BASE_TEXT.replace(fv[0], f"{fv[0].split(':')[0]}: {fv[1]}" + (" #" if fv[0] == "uri: https" else ""), 1)
)
real_manifest_mutations = st.tuples(st.sampled_from(PATHS), json_values).map(lambda pv: _dump(_replaced(BASE, *pv)))


def _replaced(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    doc = copy.deepcopy(doc)
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("fuzz") / "input"


def _invoke(args: list[str]) -> int:
    tracemalloc.start()
    try:
        result = runner.invoke(COMMAND, args)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # CliRunner turns an uncaught exception into exit 1 with the exception kept: that is a crash.
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    assert result.exit_code in (0, 1, 2), result.output
    assert peak < MEMORY_CEILING, f"{peak} bytes allocated"
    return result.exit_code


@pytest.mark.reliability(
    area="cli",
    fault="eksd-adopt validate on arbitrary bytes (hypothesis, through the CLI entry point)",
    expected="exit 0, 1 or 2; no traceback; within a deadline and a memory ceiling",
)
@CLI
@given(data=st.binary(max_size=4096), output=st.sampled_from(["text", "json"]))
def test_validate_cli_on_arbitrary_bytes(scratch: Path, data: bytes, output: str) -> None:
    scratch.write_bytes(data)
    assert _invoke(["validate", str(scratch), "--format", output]) in (1, 2)


@pytest.mark.reliability(
    area="cli",
    fault="eksd-adopt validate on arbitrary YAML: random structures, hostile fragments, mutated real manifests",
    expected="exit 0, 1 or 2; no traceback; within a deadline and a memory ceiling",
)
@CLI
@given(
    text=st.one_of(json_values.map(_dump), hostile_yaml, hostile_fields, real_manifest_mutations),
    output=st.sampled_from(["text", "json"]),
    strict=st.booleans(),
)
def test_validate_cli_on_arbitrary_yaml(scratch: Path, text: str, output: str, strict: bool) -> None:
    scratch.write_text(text, encoding="utf-8")
    _invoke(["validate", str(scratch), "--format", output, *(["--strict"] if strict else [])])


_NOTIFICATION_FRAGMENTS = st.sampled_from(
    [
        "Amazon EKS Distro v1-28-eks-21 is now available.",
        "v1.21-18",
        "v1-28-eks-" + "9" * 5000,
        "v1-2\u0668-eks-21",
        "Kubernetes version 1.30",
        "[/x]",
        '{"Type": "Notification", "Message": "v1-28-eks-21", "TopicArn": "arn:aws:sns:us-east-1:379412251201:eks-distro-updates"}',
        "{" * 300,
        "[" * 300,
        "9" * 5000,
        '"',
        "\n\t",
    ]
)


@pytest.mark.reliability(
    area="cli",
    fault="eksd-adopt notification parse on arbitrary text and envelopes (hypothesis, through the CLI)",
    expected="exit 0, 1 or 2; no traceback; within a deadline and a memory ceiling",
)
@CLI
@given(
    text=st.one_of(
        st.text(max_size=2000),
        st.lists(_NOTIFICATION_FRAGMENTS | st.text(max_size=20), max_size=8).map(" ".join),
        json_values.map(json.dumps),
        st.lists(_NOTIFICATION_FRAGMENTS, max_size=6).map(lambda parts: "{" + ",".join(parts)),
    ),
    subject=st.one_of(st.none(), st.text(max_size=80), _NOTIFICATION_FRAGMENTS),
)
def test_notification_parse_cli_on_arbitrary_text(scratch: Path, text: str, subject: str | None) -> None:
    scratch.write_text(text, encoding="utf-8", errors="surrogatepass")
    _invoke(["notification", "parse", str(scratch), *(["--subject", subject] if subject is not None else [])])
