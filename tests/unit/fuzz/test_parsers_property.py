"""Property-based tests: no input crashes the manifest or notification parsers; rejections are clear errors."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eksd_adopt.errors import ManifestError, NotificationError
from eksd_adopt.notification import parse_announcement, parse_envelope
from eksd_adopt.policy import DEFAULT_TOPIC_ARN
from eksd_adopt.release import validate_manifest
from tests.conftest import TESTDATA

BASE = yaml.safe_load((TESTDATA / "kubernetes-1-20-eks-1.yaml").read_text())
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
    report = validate_manifest(yaml.safe_dump(document))
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
    report = validate_manifest(yaml.safe_dump(doc))
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
